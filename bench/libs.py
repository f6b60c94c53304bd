"""One adapter per system compared: how it is configured, what one call is, how it shuts down.

Every system writes one JSON object per line, to a file, carrying the same message and fields
(``msg``, level, logger or module, time, and the fields of the scenario). The measured call is
not made through an adapter method: each adapter gives the *source text* of its call
(``call_src``), and :func:`compile_loops` compiles the scenario's loops around it, so that the
loop each system runs is the one an application would write, with nothing between the timer
and the call but the call.

Variants (``Cfg``): ``sinks`` (1 or 3 files), ``mode`` (``None``: the system's defaults;
``"blocking"``, aiotelemetry only), ``slow_s`` (a destination that sleeps this long per write
call and only counts, instead of a file).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import logging.handlers
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["FIELDS", "LIBS", "Cfg", "Closed", "Lib", "compile_loops", "record_ok"]

_pc = time.perf_counter_ns

#: The fields of a call, by count: 3 is the common case; 20 is a wide record.
FIELDS: dict[int, dict[str, Any]] = {
    0: {},
    3: {"a": 1, "b": "x", "c": 2.5},
    20: {
        **{f"i{k}": k for k in range(7)},
        **{f"s{k}": f"value-{k}" for k in range(7)},
        **{f"f{k}": k + 0.5 for k in range(6)},
    },
}
#: The context bound around the calls in the ``bind`` scenario.
BOUND = {"request_id": "r-7f3a", "user": 42}


def kw_src(fields: dict[str, Any]) -> str:
    """``, a=1, b='x', c=2.5`` (empty for no fields)."""
    return "".join(f", {k}={v!r}" for k, v in fields.items())


def dict_src(fields: dict[str, Any]) -> str:
    """``{'a': 1, 'b': 'x', 'c': 2.5}``."""
    return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in fields.items()) + "}"


@dataclass
class Cfg:
    """How to set a system up for one run."""

    dir: Path
    sinks: int = 1
    mode: str | None = None
    slow_s: float = 0.0


@dataclass
class Closed:
    """What a system reported when it shut down, and what the bench's own sinks counted."""

    seconds: float = 0.0
    timed_out: bool = False
    #: Drops the system itself counted (``None``: it keeps no such count).
    reported_dropped: int | None = None
    reported_written: int | None = None
    #: Records the bench's counting sink received (slow-sink scenario).
    delivered: int | None = None
    #: emitted == written + dropped, on the system's own stats (``None``: no stats).
    accounted: bool | None = None
    notes: list[str] = field(default_factory=list)


async def _in_thread(fn: Callable[[], Any], deadline_s: float, out: Closed) -> None:
    """Run a blocking shutdown (a thread join) off the loop; give up after ``deadline_s``."""
    t = threading.Thread(target=fn, daemon=True, name="bench-close")
    t.start()
    until = time.monotonic() + deadline_s
    while t.is_alive() and time.monotonic() < until:  # noqa: ASYNC110 - polling a thread
        await asyncio.sleep(0.002)
    if t.is_alive():
        out.timed_out = True


#: How long a close may take before it is reported as stuck (the slow-sink scenario only
#: reaches it: every other run is sized to finish).
CLOSE_DEADLINE_S = 120.0


class Lib:
    """Base class of the adapters."""

    key: ClassVar[str]
    label: ClassVar[str]
    #: Distribution whose version is reported.
    dist: ClassVar[str]
    #: How it is configured, for the report.
    config: ClassVar[str]
    #: What it guarantees: lossless or not, and what happens when it cannot keep up.
    guarantee: ClassVar[str]
    #: ``"fast"`` or ``"slow"``: slow systems get smaller runs (sized to finish).
    speed: ClassVar[str] = "fast"
    #: Whether the call is awaited (an async API).
    awaited: ClassVar[bool] = False
    #: Scenario-specific reasons why the system does not apply.
    na: ClassVar[dict[str, str]] = {}

    def __init__(self, cfg: Cfg) -> None:
        self.cfg = cfg
        self.paths = [cfg.dir / f"{self.key}-{i}.jsonl" for i in range(cfg.sinks)]
        self.path = self.paths[0]

    # -- what the loops are made of ------------------------------------------------------------

    def call_src(self, fields: dict[str, Any]) -> str:
        """The source of one accepted call (may start with ``await``)."""
        raise NotImplementedError

    def refused_src(self, fields: dict[str, Any]) -> str:
        """The source of one call below the level."""
        raise NotImplementedError

    def thread_call_src(self, fields: dict[str, Any]) -> str | None:
        """The source of one call from another thread (``None``: not supported)."""
        src = self.call_src(fields)
        return None if src.startswith("await") else src

    def names(self) -> dict[str, Any]:
        """The names the call sources use, bound after :meth:`open`: by default the
        ``info`` and ``debug`` of the logger :meth:`open` made (``self.log``)."""
        return {"info": self.log.info, "debug": self.log.debug}

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        """Bind :data:`BOUND` around the calls, the system's way."""
        raise NotImplementedError

    # -- life cycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Configure the system."""
        raise NotImplementedError

    async def close(self) -> Closed:
        """Flush and shut down; everything accepted is written (or counted) afterwards."""
        raise NotImplementedError

    def output_files(self) -> list[Path]:
        """The files the run wrote (to verify line by line)."""
        return [p for p in self.paths if p.exists()]


def compile_loops(lib: Lib, fields: dict[str, Any]) -> dict[str, Any]:
    """The scenario loops with ``lib``'s call written in: ``flood(n)``, ``timed(lat, start,
    k)``, ``refused(n)``, ``one()`` and, where the system takes calls from threads,
    ``thread_flood(n)``. Names the call uses are bound to locals first, as an application's
    hot loop would."""
    names = lib.names()
    binds = "".join(f"    {n} = _n_{n}\n" for n in names)
    call = lib.call_src(fields)
    src = (
        f"async def flood(n):\n{binds}    for _ in range(n):\n        {call}\n"
        f"async def timed(lat, start, k):\n{binds}    pc = _pc\n"
        f"    for i in range(start, start + k):\n        t0 = pc()\n        {call}\n"
        "        lat[i] = pc() - t0\n"
        f"async def refused(n):\n{binds}    for _ in range(n):\n"
        f"        {lib.refused_src(fields)}\n"
        f"async def one():\n{binds}    {call}\n"
    )
    thread_call = lib.thread_call_src(fields)
    if thread_call is not None:
        src += f"def thread_flood(n):\n{binds}    for _ in range(n):\n        {thread_call}\n"
    ns: dict[str, Any] = {"_pc": _pc, **{f"_n_{k}": v for k, v in names.items()}}
    exec(compile(src, f"<bench loops: {lib.key}>", "exec"), ns)  # our own source
    return ns


# -- aiotelemetry -----------------------------------------------------------------------------


class AioTelemetry(Lib):
    """aiotelemetry with its defaults: ``await tel.log(...)`` to one FileSink handler."""

    key = "aiotelemetry"
    label = "aiotelemetry (defaults)"
    dist = "aiotelemetry"
    awaited = True
    handler_options: ClassVar[dict[str, Any]] = {}
    config = (
        "`Telemetry(handlers={'file': FileSink(path)})`, every option at its default; "
        "`await tel.log('info', 'msg', a=1, b='x', c=2.5)`; threads: `tel.log_nowait(...)`; "
        "close: `await hub.aclose()`"
    )
    guarantee = (
        "every signal written or counted as dropped, by reason, in `stats()`; what a full "
        "queue does is the default mode's (the mode each run used is noted under its table)"
    )

    def call_src(self, fields: dict[str, Any]) -> str:
        return f"await log('info', 'msg'{kw_src(fields)})"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return f"await log('debug', 'msg'{kw_src(fields)})"

    def thread_call_src(self, fields: dict[str, Any]) -> str | None:
        return f"log_nowait('info', 'msg'{kw_src(fields)})"

    def names(self) -> dict[str, Any]:
        import telemetry as tel

        return {"log": tel.log, "log_nowait": tel.log_nowait}

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        import telemetry as tel

        with tel.bind(**BOUND):
            yield

    def _sink(self, path: Path) -> Any:
        from telemetry.sinks import FileSink, Sink

        if not self.cfg.slow_s:
            return FileSink(path)
        delay = self.cfg.slow_s
        owner = self

        class Slow(Sink):
            kind = "slow"

            async def write(self, batch: Any) -> None:
                await asyncio.sleep(delay)
                owner.delivered += len(batch)

        return Slow()

    async def open(self) -> None:
        import telemetry as tel

        self.delivered = 0
        handlers = {
            f"h{i}": {"sink": self._sink(p), **self.handler_options}
            for i, p in enumerate(self.paths)
        }
        self.hub = tel.Telemetry(handlers=handlers)
        await self.hub.open()

    async def close(self) -> Closed:
        stats = await self.hub.aclose()
        out = Closed()
        hs = stats.handlers.values()
        out.reported_dropped = sum(h.dropped_total for h in hs)
        out.reported_written = sum(h.written for h in hs)
        out.accounted = all(h.emitted == h.written + h.dropped_total for h in hs)
        out.timed_out = any(h.dropped.get("timeout", 0) for h in hs)
        for name, h in stats.handlers.items():
            out.notes.append(
                f"{name} ({h.mode}): emitted {h.emitted:,}, written {h.written:,}, dropped "
                f"{dict(h.dropped)}, {h.batches:,} batches, peak queue {h.peak_queued:,}"
            )
        if self.cfg.slow_s:
            out.delivered = self.delivered
        return out


class AioTelemetryBlocking(AioTelemetry):
    """aiotelemetry, handler in ``mode="blocking"``: an awaited call waits for room."""

    key = "aiotelemetry-blocking"
    label = "aiotelemetry (blocking)"
    handler_options = {"mode": "blocking"}
    config = (
        "as the defaults, with `{'sink': FileSink(path), 'mode': 'blocking'}`: an awaited "
        "call waits for room in the queue"
    )
    guarantee = (
        "lossless for awaited calls (the caller waits); `*_nowait` on a full queue drops, counted"
    )


class AioTelemetrySync(AioTelemetry):
    """aiotelemetry, handler with ``sync=True``: every signal written before the call returns."""

    key = "aiotelemetry-sync"
    label = "aiotelemetry (sync=True)"
    handler_options = {"sync": True}
    speed = "slow"
    config = (
        "as the defaults, with `{'sink': FileSink(path), 'sync': True}`: each signal is "
        "written inline before the call returns (the debugging mode)"
    )
    guarantee = "lossless: the write happens in the call"


# -- the floor --------------------------------------------------------------------------------


def _floor_parts() -> tuple[Any, Any]:
    import msgspec

    class Rec(msgspec.Struct, array_like=False, gc=False):
        time: int
        level: str
        msg: str
        data: dict[str, Any]

    return Rec, msgspec.json.Encoder()


class Floor(Lib):
    """The least an awaited structured call that is written in batches can cost."""

    key = "floor"
    label = "floor (msgspec + deque)"
    dist = "msgspec"
    awaited = True
    config = (
        "`await emit('info', 'msg', a=1, ...)`: a 4-field msgspec struct (time, level, msg, "
        "data) appended to an unbounded deque, a finished future returned; a task takes "
        "batches of up to 1,024, `encode_lines` once and one `os.write` per batch"
    )
    guarantee = "lossless, unbounded memory (no queue bound, no counts, no call site)"
    na = {"refused": "no levels", "threads": "a deque append from threads has no wake-up"}
    BATCH = 1024

    async def open(self) -> None:
        import os

        Rec, enc = _floor_parts()
        loop = asyncio.get_running_loop()
        q: collections.deque[Any] = collections.deque()
        done = loop.create_future()
        done.set_result(True)
        wake = asyncio.Event()
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.q, self.wake, self.stopping = q, wake, False
        append, now, batch = q.append, time.time_ns, self.BATCH
        fd = self.fd

        def emit(level: str, msg: str, /, **data: Any) -> Any:
            append(Rec(now(), level, msg, data))
            if len(q) >= batch:
                wake.set()
            return done

        async def writer() -> None:
            popleft, write, encode_lines = q.popleft, os.write, enc.encode_lines
            while True:
                if not q:
                    if self.stopping:
                        return
                    wake.clear()
                    await wake.wait()
                    continue
                k = min(batch, len(q))
                buf = encode_lines([popleft() for _ in range(k)])
                view = memoryview(buf)
                while view:
                    view = view[write(fd, view) :]
                await asyncio.sleep(0)

        self.emit = emit
        self.task = asyncio.create_task(writer())

    def call_src(self, fields: dict[str, Any]) -> str:
        return f"await emit('info', 'msg'{kw_src(fields)})"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return self.call_src(fields)

    def thread_call_src(self, fields: dict[str, Any]) -> str | None:
        return None

    def names(self) -> dict[str, Any]:
        return {"emit": self.emit}

    async def close(self) -> Closed:
        import os

        self.stopping = True
        self.wake.set()
        await self.task
        os.close(self.fd)
        return Closed()


# -- stdlib logging ---------------------------------------------------------------------------

#: LogRecord attributes that are not the caller's ``extra`` fields.
_STD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class OrjsonFormatter(logging.Formatter):
    """A fast JSON formatter: one dict, one ``orjson.dumps``; the ``extra`` fields found by a
    set difference on the record's attributes."""

    def __init__(self) -> None:
        super().__init__()
        import orjson

        self._dumps = orjson.dumps

    def format(self, record: logging.LogRecord) -> str:
        d = record.__dict__
        out = {
            "time": record.created,
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "file": record.pathname,
            "line": record.lineno,
            "func": record.funcName,
        }
        for k in d.keys() - _STD_ATTRS:
            out[k] = d[k]
        return self._dumps(out).decode()


class _CountingHandler(logging.Handler):
    """The slow destination for stdlib handlers: sleeps per record, counts."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(self.delay)
        self.count += 1


class StdlibFile(Lib):
    """stdlib logging, synchronous: a FileHandler with a fast JSON formatter."""

    key = "logging"
    label = "logging FileHandler"
    dist = "orjson"
    config = (
        "`logging.FileHandler(path)` with an orjson formatter (time, level, logger, msg, "
        "file, line, func, extra fields), `log.info('msg', extra={...})`"
    )
    guarantee = "lossless: the write happens on the caller (buffered; flushed per record)"
    na = {"slow": "writes on the caller: each call waits for the slow sink"}

    def call_src(self, fields: dict[str, Any]) -> str:
        return f"info('msg', extra={dict_src(fields)})" if fields else "info('msg')"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return self.call_src(fields).replace("info(", "debug(", 1)

    def _handlers(self) -> list[logging.Handler]:
        if self.cfg.slow_s:
            self.counting = _CountingHandler(self.cfg.slow_s)
            return [self.counting]
        fmt = OrjsonFormatter()
        hs: list[logging.Handler] = []
        for p in self.paths:
            h = logging.FileHandler(p, encoding="utf-8")
            h.setFormatter(fmt)
            hs.append(h)
        return hs

    def _logger(self) -> logging.Logger:
        log = logging.getLogger(f"bench.{self.key}")
        log.propagate = False
        log.setLevel(logging.INFO)
        return log

    async def open(self) -> None:
        self.handlers = self._handlers()
        self.log = self._logger()
        for h in self.handlers:
            self.log.addHandler(h)

    def _stop(self) -> None:
        for h in self.handlers:
            h.flush()
            h.close()

    async def close(self) -> Closed:
        out = Closed()
        await _in_thread(self._stop, CLOSE_DEADLINE_S, out)
        if self.cfg.slow_s:
            out.delivered = self.counting.count
        return out


class _PassThroughQueueHandler(logging.handlers.QueueHandler):
    """QueueHandler whose ``prepare()`` hands the record over as it is (no format, no copy)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class StdlibQueue(StdlibFile):
    """The cookbook's QueueHandler + QueueListener."""

    key = "logging-queue"
    label = "logging QueueHandler (stock)"
    config = (
        "`QueueHandler(queue.Queue(-1))` on the logger (stock `prepare()`: formats and copies "
        "the record on the caller), `QueueListener(q, FileHandler + orjson formatter, "
        "respect_handler_level=True)`; close: `listener.stop()`"
    )
    guarantee = "lossless, unbounded queue (memory grows while the listener lags)"
    na = {}
    queue_handler: ClassVar[type[logging.handlers.QueueHandler]] = logging.handlers.QueueHandler

    def _queue(self) -> Any:
        return queue.Queue(-1)

    async def open(self) -> None:
        self.handlers = self._handlers()
        self.q = self._queue()
        self.listener = logging.handlers.QueueListener(
            self.q, *self.handlers, respect_handler_level=True
        )
        self.listener.start()
        self.log = self._logger()
        self.log.addHandler(self.queue_handler(self.q))

    def _stop(self) -> None:
        self.listener.stop()
        super()._stop()


class StdlibQueueTuned(StdlibQueue):
    """QueueHandler tuned: a SimpleQueue and a pass-through ``prepare()``."""

    key = "logging-queue-tuned"
    label = "logging QueueHandler (tuned)"
    config = (
        "`QueueHandler(queue.SimpleQueue())` with `prepare()` returning the record unchanged "
        "(no format, no copy on the caller), `QueueListener(q, FileHandler + orjson "
        "formatter)`; close: `listener.stop()`"
    )
    queue_handler = _PassThroughQueueHandler

    def _queue(self) -> Any:
        return queue.SimpleQueue()


# -- picologging ------------------------------------------------------------------------------


class Picologging(Lib):
    """picologging (C++ logging): FileHandler, a dict message rendered with orjson."""

    key = "picologging"
    label = "picologging FileHandler"
    dist = "picologging"
    config = (
        "`picologging.FileHandler(path)` with a Formatter subclass that renders time, level, "
        "logger and the message dict with orjson; `log.info({'msg': 'msg', 'a': 1, ...})` "
        "(picologging ignores `extra=`, so the fields travel in the message)"
    )
    guarantee = "lossless: the write happens on the caller; no call site recorded"
    na = {
        "slow": "writes on the caller: each call waits for the slow sink",
        # Reproduced outside the bench: 4 threads x 500 calls into one FileHandler never
        # finish (a single thread does), picologging 0.9.3 on CPython 3.11.
        "threads": "**hangs**: 4 threads logging through one FileHandler deadlocked (0.9.3)",
    }

    def call_src(self, fields: dict[str, Any]) -> str:
        return f"info({dict_src({'msg': 'msg', **fields})})"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return f"debug({dict_src({'msg': 'msg', **fields})})"

    async def open(self) -> None:
        import orjson
        import picologging

        dumps = orjson.dumps

        class Fmt(picologging.Formatter):  # type: ignore[misc]
            def format(self, record: Any) -> str:
                out = {"time": record.created, "level": record.levelname, "logger": record.name}
                m = record.msg
                if isinstance(m, dict):
                    out.update(m)
                else:
                    out["msg"] = record.getMessage()
                return dumps(out).decode()

        self.log = picologging.getLogger(f"bench.{self.key}")
        self.log.setLevel(picologging.INFO)
        self.handlers = []
        for p in self.paths:
            h = picologging.FileHandler(str(p))
            h.setFormatter(Fmt())
            self.log.addHandler(h)
            self.handlers.append(h)

    async def close(self) -> Closed:
        for h in self.handlers:
            h.flush()
            h.close()
        return Closed()


# -- structlog --------------------------------------------------------------------------------


class Structlog(Lib):
    """structlog's performance recipe: orjson straight to a BytesLogger, cached logger."""

    key = "structlog"
    label = "structlog"
    dist = "structlog"
    config = (
        "the documentation's performance recipe: `make_filtering_bound_logger(INFO)`, "
        "`cache_logger_on_first_use=True`, processors merge_contextvars, add_log_level, "
        "format_exc_info, `TimeStamper(fmt='iso', utc=True)`, "
        "`JSONRenderer(serializer=orjson.dumps)`, `BytesLoggerFactory(file)`; no call-site "
        "capture; `log.info('msg', a=1, ...)`"
    )
    guarantee = "lossless: the write happens on the caller; no call site recorded"
    na = {"fanout": "no fan-out of its own (one logger factory)"}

    def call_src(self, fields: dict[str, Any]) -> str:
        return f"info('msg'{kw_src(fields)})"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return f"debug('msg'{kw_src(fields)})"

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        import structlog

        with structlog.contextvars.bound_contextvars(**BOUND):
            yield

    async def open(self) -> None:
        import orjson
        import structlog

        self.counting: _SlowBytesLogger | None = None
        self.file: Any = None
        if self.cfg.slow_s:
            self.counting = _SlowBytesLogger(self.cfg.slow_s)
            factory: Any = lambda *a: self.counting  # noqa: E731
        else:
            self.file = open(self.path, "ab")  # noqa: SIM115, ASYNC230 - closed in close()
            factory = structlog.BytesLoggerFactory(self.file)
        structlog.configure(
            cache_logger_on_first_use=True,
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.format_exc_info,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            logger_factory=factory,
        )
        self.log = structlog.get_logger("bench")

    async def close(self) -> Closed:
        out = Closed()
        if self.file is not None:
            self.file.flush()
            self.file.close()
        if self.counting is not None:
            out.delivered = self.counting.count
        return out


class _SlowBytesLogger:
    """A structlog output logger that sleeps per record and counts."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.count = 0

    def msg(self, message: Any) -> None:
        time.sleep(self.delay)
        self.count += 1

    info = debug = warning = error = critical = msg


# -- loguru -----------------------------------------------------------------------------------


class LoguruSync(Lib):
    """loguru writing on the caller (``enqueue=False``, its default)."""

    key = "loguru"
    label = "loguru (sync)"
    dist = "loguru"
    config = (
        "`logger.add(path, serialize=True, level='INFO')` (default `enqueue=False`: written "
        "on the caller); `logger.info('msg', a=1, ...)`; close: `logger.remove()`"
    )
    guarantee = "lossless: the write happens on the caller"
    speed = "slow"
    enqueue = False
    na = {"slow": "writes on the caller: each call waits for the slow sink"}

    def call_src(self, fields: dict[str, Any]) -> str:
        return f"info('msg'{kw_src(fields)})"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return f"debug('msg'{kw_src(fields)})"

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        with self.log.contextualize(**BOUND):
            yield

    async def open(self) -> None:
        from loguru import logger

        logger.remove()
        self.log = logger
        self.count = [0]
        if self.cfg.slow_s:
            delay, count = self.cfg.slow_s, self.count

            def slow(message: Any) -> None:
                time.sleep(delay)
                count[0] += 1

            logger.add(slow, enqueue=self.enqueue, serialize=True, level="INFO")
            return
        for p in self.paths:
            logger.add(p, enqueue=self.enqueue, serialize=True, level="INFO")

    async def close(self) -> Closed:
        out = Closed()
        await _in_thread(self.log.remove, CLOSE_DEADLINE_S, out)
        if self.cfg.slow_s:
            out.delivered = self.count[0]
        return out


class LoguruEnqueue(LoguruSync):
    """loguru with ``enqueue=True``: records pickled into a pipe, written by a thread."""

    key = "loguru-enqueue"
    label = "loguru (enqueue=True)"
    config = (
        "`logger.add(path, enqueue=True, serialize=True, level='INFO')`; "
        "`logger.info('msg', a=1, ...)`; close: `logger.remove()` (joins the writer)"
    )
    guarantee = "lossless; no bound: the pipe blocks the caller when full"
    speed = "slow"
    enqueue = True
    na = {}


# -- aiologger --------------------------------------------------------------------------------


class AioLogger(Lib):
    """aiologger's JsonLogger with an AsyncFileHandler, every call awaited."""

    key = "aiologger"
    label = "aiologger"
    dist = "aiologger"
    awaited = True
    speed = "slow"
    config = (
        "`JsonLogger(level=INFO, flatten=True)` + `AsyncFileHandler` with "
        "`ExtendedJsonFormatter`; `await log.info('msg', extra={...})`; close: "
        "`await log.shutdown()`"
    )
    guarantee = "lossless when every call is awaited (one task per record, no bound)"
    na = {
        "threads": "cannot log from threads (needs the running loop)",
        "slow": "one task per record, no queue to observe",
    }

    def call_src(self, fields: dict[str, Any]) -> str:
        return f"await info('msg', extra={dict_src(fields)})"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return f"await debug('msg', extra={dict_src(fields)})"

    async def open(self) -> None:
        from aiologger.formatters.json import ExtendedJsonFormatter
        from aiologger.handlers.files import AsyncFileHandler
        from aiologger.loggers.json import JsonLogger

        self.log = JsonLogger(name="bench.aiologger", level=logging.INFO, flatten=True)
        for p in self.paths:
            h = AsyncFileHandler(filename=str(p))
            h.formatter = ExtendedJsonFormatter()
            self.log.add_handler(h)

    async def close(self) -> Closed:
        await self.log.shutdown()
        return Closed()


# -- fapilog ----------------------------------------------------------------------------------


class Fapilog(Lib):
    """fapilog's async logger, production preset, writing to its rotating file sink."""

    key = "fapilog"
    label = "fapilog"
    dist = "fapilog"
    awaited = True
    speed = "slow"
    config = (
        "`await get_async_logger(settings=Settings(**production preset))` with the stdout "
        "sink replaced by its `rotating_file` sink (no compression), adaptive scaling off; "
        "`await log.info('msg', a=1, ...)`; close: `await log.drain()`"
    )
    guarantee = "drops when its queue is full (`drop_on_full=True` in the preset), counted"
    na = {
        "fanout": "no several-file fan-out in its configuration",
        "threads": "the async facade is bound to the loop",
    }

    def call_src(self, fields: dict[str, Any]) -> str:
        return f"await info('msg'{kw_src(fields)})"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return f"await debug('msg'{kw_src(fields)})"

    async def open(self) -> None:
        import copy

        from fapilog import Settings, get_async_logger
        from fapilog.core.presets import get_preset

        conf = copy.deepcopy(get_preset("production"))
        conf.pop("_apply_credentials_preset", None)
        core = conf["core"]
        core["sinks"] = ["rotating_file"]
        core.pop("sink_circuit_breaker_fallback_sink", None)
        # With adaptive scaling on, drain() returned while most records were neither written
        # nor counted as dropped (0.18.1): off, so that what is measured delivers.
        conf["adaptive"]["enabled"] = False
        self.outdir = self.cfg.dir / "fapilog"
        conf["sink_config"]["rotating_file"].update(
            directory=str(self.outdir), max_bytes=1 << 34, compress_rotated=False, max_files=None
        )
        sinks = None
        if self.cfg.slow_s:
            self.counting = _FapilogSlow(self.cfg.slow_s)
            sinks = [self.counting]
        self.log = await get_async_logger(
            "bench", settings=Settings(**conf), sinks=sinks, reuse=False
        )

    def output_files(self) -> list[Path]:
        return sorted(self.outdir.glob("*.jsonl")) if self.outdir.exists() else []

    async def close(self) -> Closed:
        out = Closed()
        res = await self.log.drain()
        out.reported_dropped = res.dropped
        out.reported_written = res.processed
        out.accounted = res.submitted == res.processed + res.dropped
        out.notes.append(
            f"drain: submitted {res.submitted:,}, processed {res.processed:,}, "
            f"dropped {res.dropped:,}"
        )
        if self.cfg.slow_s:
            out.delivered = self.counting.count
        return out


class _FapilogSlow:
    """A fapilog sink that sleeps per write and counts."""

    name = "bench_slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.count = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def write(self, entry: dict[str, Any]) -> None:
        await asyncio.sleep(self.delay)
        self.count += 1


# -- OpenTelemetry SDK ------------------------------------------------------------------------


class OTel(Lib):
    """The OpenTelemetry SDK's logs: BatchLogRecordProcessor into a JSON-lines exporter."""

    key = "otel"
    label = "OpenTelemetry SDK (BatchLogRecordProcessor)"
    dist = "opentelemetry-sdk"
    config = (
        "`LoggerProvider()` + `BatchLogRecordProcessor(exporter)` at its defaults (queue "
        "2,048, batch 512, 1 s schedule), the exporter writing each batch as JSON lines "
        "(orjson, one write per batch); `logger.emit(body='msg', severity_number=INFO, "
        "severity_text='INFO', attributes={...})`; close: `provider.shutdown()`"
    )
    guarantee = (
        "drops the oldest queued record when its queue is full; the drop is logged, not counted"
    )
    na = {"refused": "the SDK's LoggerProvider has no minimum level: a DEBUG record is exported"}

    def call_src(self, fields: dict[str, Any]) -> str:
        return (
            f"emit(body='msg', severity_number=INFO, severity_text='INFO', "
            f"attributes={dict_src(fields)})"
        )

    def refused_src(self, fields: dict[str, Any]) -> str:
        return (
            f"emit(body='msg', severity_number=DEBUG, severity_text='DEBUG', "
            f"attributes={dict_src(fields)})"
        )

    def names(self) -> dict[str, Any]:
        from opentelemetry._logs import SeverityNumber

        return {
            "emit": self.logger.emit,
            "INFO": SeverityNumber.INFO,
            "DEBUG": SeverityNumber.DEBUG,
        }

    async def open(self) -> None:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        self.provider = LoggerProvider()
        self.exporters = []
        if self.cfg.slow_s:
            self.exporters.append(_otel_exporter(None, self.cfg.slow_s))
        else:
            self.exporters += [_otel_exporter(p, 0.0) for p in self.paths]
        for e in self.exporters:
            self.provider.add_log_record_processor(BatchLogRecordProcessor(e))
        self.logger = self.provider.get_logger("bench")

    async def close(self) -> Closed:
        out = Closed()
        await _in_thread(self.provider.shutdown, CLOSE_DEADLINE_S, out)
        if self.cfg.slow_s:
            out.delivered = self.exporters[0].count
        return out


def _otel_exporter(path: Path | None, delay: float) -> Any:
    import orjson
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

    class JsonLines(LogRecordExporter):  # type: ignore[misc]
        count = 0

        def __init__(self) -> None:
            self.file = open(path, "ab") if path is not None else None  # noqa: SIM115

        def export(self, batch: Any) -> Any:
            if delay:
                time.sleep(delay)
                self.count += len(batch)
                return LogRecordExportResult.SUCCESS
            dumps = orjson.dumps
            lines = []
            for r in batch:
                lr = r.log_record
                rec = {
                    "time": lr.timestamp or lr.observed_timestamp,
                    "level": lr.severity_text,
                    "logger": r.instrumentation_scope.name,
                    "msg": lr.body,
                }
                if lr.attributes:
                    rec.update(lr.attributes)
                lines.append(dumps(rec))
            lines.append(b"")
            assert self.file is not None
            self.file.write(b"\n".join(lines))
            self.file.flush()
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            if self.file is not None:
                self.file.close()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    return JsonLines()


# -- no telemetry -----------------------------------------------------------------------------


class Off(Lib):
    """No telemetry at all: the app scenario's baseline."""

    key = "off"
    label = "telemetry off"
    dist = "aiotelemetry"
    config = "no logging call in the app's handlers"
    guarantee = "—"

    def call_src(self, fields: dict[str, Any]) -> str:
        return "pass"

    def refused_src(self, fields: dict[str, Any]) -> str:
        return "pass"

    def names(self) -> dict[str, Any]:
        return {}

    async def open(self) -> None:
        pass

    async def close(self) -> Closed:
        return Closed()


LIBS: dict[str, type[Lib]] = {
    cls.key: cls
    for cls in (
        AioTelemetry,
        AioTelemetryBlocking,
        AioTelemetrySync,
        Floor,
        StdlibFile,
        StdlibQueue,
        StdlibQueueTuned,
        Picologging,
        Structlog,
        LoguruSync,
        LoguruEnqueue,
        AioLogger,
        Fapilog,
        OTel,
        Off,
    )
}
#: The systems that are aiotelemetry itself, and the floor: not peers.
OURS = ("aiotelemetry", "aiotelemetry-blocking", "aiotelemetry-sync")
NOT_PEERS = (*OURS, "floor", "off")


def record_ok(obj: Any, fields: dict[str, Any]) -> bool:
    """A written line (parsed) is one object carrying the message and the scenario's fields."""
    if not isinstance(obj, dict):
        return False
    found = _find(obj, fields, 0)
    return found == fields and _has_msg(obj, 0)


def _has_msg(obj: dict[str, Any], depth: int) -> bool:
    if "msg" in obj.values():
        return True
    return depth < 3 and any(_has_msg(v, depth + 1) for v in obj.values() if isinstance(v, dict))


def _find(obj: dict[str, Any], fields: dict[str, Any], depth: int) -> dict[str, Any]:
    out = {k: obj[k] for k in fields if k in obj}
    if len(out) == len(fields) or depth > 3:
        return out
    for v in obj.values():
        if isinstance(v, dict):
            sub = _find(v, fields, depth + 1)
            if len(sub) == len(fields):
                return sub
    return out
