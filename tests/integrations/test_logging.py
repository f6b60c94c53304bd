"""The bridge from the standard library's logging to signals."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "httpx", "uvicorn")

import contextlib
import inspect
import logging
import threading
from collections.abc import Iterator, Sequence

import httpx
import pytest
from fastapi import FastAPI

import telemetry as tel
from telemetry import ConfigError, Signal, Telemetry
from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan
from telemetry.integrations.logging import (
    TelemetryHandler,
    install_logging_bridge,
    signal_level,
    uninstall_logging_bridge,
)
from telemetry.sinks import MemorySink, Sink

from ..conftest import assert_accounted
from .servers import serve


@contextlib.contextmanager
def attached(handler: logging.Handler, name: str) -> Iterator[logging.Logger]:
    """A logger of its own with ``handler`` on it, at every level, not propagating."""
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(1)
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def line_of_next_call() -> int:
    frame = inspect.currentframe()
    assert frame is not None
    assert frame.f_back is not None
    return frame.f_back.f_lineno + 1


async def test_levels_namespace_message_and_location() -> None:
    """Each record becomes a log signal: logger name as ns, level mapped, message formatted
    with its arguments, the record's file, line and function as the location."""
    sink = MemorySink()
    async with Telemetry(handlers={"mem": sink}, min_level="trace") as hub:
        with attached(TelemetryHandler(hub=hub), "bridge.levels") as logger:
            logger.debug("d %s", 1)
            logger.info("i %s", 2)
            logger.warning("w %s", 3)
            logger.error("e %s", 4)
            logger.critical("c %s", 5)
            logger.log(25, "between info and warning")
            logger.log(5, "below debug")
            line = line_of_next_call()
            logger.info("located")
    assert_accounted(hub.stats())
    assert [(s.level, s.msg) for s in sink.signals] == [
        ("debug", "d 1"),
        ("info", "i 2"),
        ("warn", "w 3"),
        ("error", "e 4"),
        ("fatal", "c 5"),
        ("info", "between info and warning"),
        ("trace", "below debug"),
        ("info", "located"),
    ]
    assert {(s.kind, s.ns) for s in sink.signals} == {("log", "bridge.levels")}
    located = sink.signals[-1].location
    assert located is not None
    assert (located.file, located.line) == (__file__, line)
    assert located.function == "test_levels_namespace_message_and_location"


@pytest.mark.parametrize(
    ("levelno", "label"),
    [(10, "debug"), (20, "info"), (30, "warn"), (40, "error"), (50, "fatal"), (35, "warn")],
)
def test_signal_level_mapping(levelno: int, label: str) -> None:
    """logging levels map to signal levels; levels in between round down."""
    assert tel.Level(signal_level(levelno)).label == label


async def test_exc_info_is_captured_as_the_error() -> None:
    """logger.exception() records the exception, with its traceback and cause, as the error."""
    sink = MemorySink()
    async with Telemetry(handlers={"mem": sink}) as hub:
        with attached(TelemetryHandler(hub=hub), "bridge.exc") as logger:
            try:
                try:
                    {}["missing"]
                except KeyError as inner:
                    raise RuntimeError("lookup failed") from inner
            except RuntimeError:
                logger.exception("it broke")
            logger.error("no exception at hand", exc_info=False)
    (broke, plain) = sink.signals
    assert broke.level == "error"
    assert broke.msg == "it broke"
    assert broke.error is not None
    assert (broke.error.type, broke.error.message) == ("RuntimeError", "lookup failed")
    assert broke.error.frames[-1].function == "test_exc_info_is_captured_as_the_error"
    assert broke.error.cause is not None
    assert broke.error.cause.type == "KeyError"
    assert plain.error is None


async def test_extra_fields_become_data() -> None:
    """extra= fields become the signal's data; the record's own attributes do not, nor
    uvicorn's coloured copy of the message."""
    sink = MemorySink()
    async with Telemetry(handlers={"mem": sink}) as hub:
        with attached(TelemetryHandler(hub=hub), "bridge.extra") as logger:
            logger.info("joined", extra={"user": "ann", "room": 7, "color_message": "\x1b[1m"})
            logger.info("plain")
    joined, plain = sink.signals
    assert joined.data == {"user": "ann", "room": 7}
    assert plain.data == {}


async def test_bound_context_and_current_span_reach_bridged_records() -> None:
    """A record logged inside tel.bind(...) and a span carries that context and trace."""
    sink = MemorySink()
    async with Telemetry(handlers={"mem": sink}) as hub:
        with (
            attached(TelemetryHandler(hub=hub), "bridge.ctx") as logger,
            tel.bind(request_id="r-1"),
        ):
            async with hub.span("outer") as span:
                logger.info("inside")
    record, _span = sink.signals
    assert record.ctx == {"request_id": "r-1"}
    assert (record.trace_id, record.span_id) == (span.trace_id, span.span_id)


async def test_records_from_threads_all_arrive() -> None:
    """Records logged from many threads at once all become signals, with their thread name."""
    sink = MemorySink()
    n_threads, per_thread = 8, 200
    async with Telemetry(handlers={"mem": {"sink": sink, "mode": "blocking"}}) as hub:
        with attached(TelemetryHandler(hub=hub), "bridge.threads") as logger:

            def work(t: int) -> None:
                for i in range(per_thread):
                    logger.info("from a thread", extra={"t": t, "i": i})

            threads = [
                threading.Thread(target=work, args=(t,), name=f"worker-{t}")
                for t in range(n_threads)
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
    stats = hub.stats()
    assert_accounted(stats)
    assert stats.handlers["mem"].written == n_threads * per_thread
    got = sorted((s.data["t"], s.data["i"]) for s in sink.signals)
    assert got == [(t, i) for t in range(n_threads) for i in range(per_thread)]
    assert {s.thread for s in sink.signals} == {f"worker-{t}" for t in range(n_threads)}


class LoggingSink(Sink):
    """A sink that logs through the standard library each time it writes (as a sink built
    on an HTTP client would)."""

    kind = "logging"

    def __init__(self) -> None:
        super().__init__()
        self.signals: list[Signal] = []

    async def write(self, batch: Sequence[Signal]) -> None:
        self.write_sync(batch)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        self.signals.extend(batch)
        logging.getLogger("bridge.sinklog").warning("wrote %d signals", len(batch))


@pytest.mark.parametrize("sync", [True, False])
async def test_a_sink_that_logs_never_feeds_the_bridge(sync: bool) -> None:
    """A sink that logs while writing, inline (re-entering the bridge) or in a worker task,
    does not have its own records bridged: no recursion, no endless feedback; each is
    counted as skipped."""
    sink = LoggingSink()
    handler = install_logging_bridge("info", loggers=["bridge"])
    try:
        async with Telemetry(handlers={"out": {"sink": sink, "sync": sync}}) as hub:
            logger = logging.getLogger("bridge.app")
            for i in range(5):
                logger.warning("app record %d", i)
                await hub.flush()
    finally:
        uninstall_logging_bridge(handler)
    assert_accounted(hub.stats())
    assert [s.msg for s in sink.signals] == [f"app record {i}" for i in range(5)]
    assert handler.skipped == {("reentrant" if sync else "pipeline"): 5}


async def test_the_sdks_own_loggers_are_not_bridged() -> None:
    """Records of telemetry.* loggers never come back through the bridge; the same handler
    bridges the record of any other logger."""
    sink = MemorySink()
    async with Telemetry(handlers={"mem": sink}) as hub:
        bridge = TelemetryHandler(hub=hub)
        with attached(bridge, "telemetry.sinks.test") as logger:
            logger.warning("internal")
        with attached(bridge, "telemetry_app.sinks.test") as logger:
            logger.warning("the app's own")
    assert [(s.ns, s.msg) for s in sink.signals] == [("telemetry_app.sinks.test", "the app's own")]


async def test_a_record_seen_by_two_loggers_is_bridged_once() -> None:
    """With the bridge on a logger and on its ancestor, a propagated record is one signal."""
    sink = MemorySink()
    async with Telemetry(handlers={"mem": sink}) as hub:
        handler = install_logging_bridge("info", hub=hub, loggers=["twice", "twice.child"])
        try:
            logging.getLogger("twice.child").info("once")
        finally:
            uninstall_logging_bridge(handler)
    assert [s.msg for s in sink.signals] == ["once"]


async def test_bad_format_arguments_keep_the_record() -> None:
    """A record whose arguments do not fit its format still becomes a signal."""
    sink = MemorySink()
    async with Telemetry(handlers={"mem": sink}) as hub:
        with attached(TelemetryHandler(hub=hub), "bridge.badargs") as logger:
            logger.info("%d items", "many")
    (sig,) = sink.signals
    assert sig.msg is not None
    assert "%d items" in sig.msg
    assert "many" in sig.msg


async def test_the_hubs_minimum_level_applies() -> None:
    """Records below the hub's minimum level are refused like any other signal."""
    sink = MemorySink()
    async with Telemetry(handlers={"mem": sink}, min_level="warn") as hub:
        with attached(TelemetryHandler(hub=hub), "bridge.minlevel") as logger:
            logger.info("refused")
            logger.warning("kept")
    assert [s.msg for s in sink.signals] == ["kept"]


def test_install_lowers_levels_and_uninstall_restores_them() -> None:
    """install_logging_bridge attaches to the loggers and lowers their level when needed;
    uninstall_logging_bridge detaches and restores."""
    root = logging.getLogger()
    before_root, before_handlers = root.level, list(root.handlers)
    quiet = logging.getLogger("bridge.quiet")
    quiet.setLevel(logging.ERROR)
    try:
        handler = install_logging_bridge("debug", loggers=["", "bridge.quiet"])
        assert handler in root.handlers
        assert handler in quiet.handlers
        assert root.level <= logging.DEBUG
        assert quiet.level == logging.DEBUG
        uninstall_logging_bridge()
        assert root.level == before_root
        assert root.handlers == before_handlers
        assert quiet.level == logging.ERROR
        assert handler not in quiet.handlers
    finally:
        quiet.setLevel(logging.NOTSET)


def test_wrong_configuration_fails_at_once() -> None:
    """A bad level or hub fails at construction, naming the parameter."""
    with pytest.raises(ConfigError, match="level"):
        install_logging_bridge("loud")
    with pytest.raises(ConfigError, match="hub"):
        TelemetryHandler(hub="default")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="loggers"):
        install_logging_bridge("info", loggers=[None])  # type: ignore[list-item]


async def test_uvicorns_own_records_are_bridged() -> None:
    """Under uvicorn with the lifespan's bridge, uvicorn's own records (startup, access log)
    become signals; the access record of a request carries that request's id."""
    sink = MemorySink()
    app = FastAPI(lifespan=telemetry_lifespan(lambda: {"mem": sink}, logging_bridge="info"))
    app.add_middleware(TelemetryMiddleware)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    root = logging.getLogger()
    handlers_before = list(root.handlers)
    async with serve(app, lifespan="on", log_level="info") as addr:
        client = httpx.AsyncClient(base_url=f"http://{addr}")
        async with client:
            r = await client.get("/hello", headers={"x-request-id": "via-uvicorn"})
    assert r.status_code == 200
    assert root.handlers == handlers_before
    by_ns: dict[str | None, list[Signal]] = {}
    for s in sink.signals:
        by_ns.setdefault(s.ns, []).append(s)
    assert "Application startup complete." in [s.msg for s in by_ns["uvicorn.error"]]
    (access,) = by_ns["uvicorn.access"]
    assert access.msg is not None
    assert '"GET /hello HTTP/1.1" 200' in access.msg
    assert access.level == "info"
    assert access.ctx["request_id"] == "via-uvicorn"
