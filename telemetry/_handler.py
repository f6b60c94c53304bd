"""A handler: one sink, its bounded queue, its workers, its filters and its counts.

Ownership: the queue belongs to the handler; only the event loop thread touches it. Signals enter
through :meth:`Handler.offer` (never waits) or :meth:`Handler.offer_wait` (blocking mode), and
leave through the workers, which take whole batches, run middleware, and call ``sink.write``
once per batch. Every signal offered is, in the end, either written or counted in ``dropped``
under a reason; :meth:`Handler.aclose` is what makes "in the end" arrive.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

import anyio

from ._errors import ConfigError
from ._filters import Filters
from ._queue import SignalQueue
from ._signal import Signal, top_up_uids
from ._stats import HandlerStats, LatencyRecorder
from ._warn import warn
from .sinks._base import Sink

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_BACKOFF_S",
    "MODES",
    "Handler",
    "Middleware",
]

#: Queue capacity per handler.
DEFAULT_BUFFER_SIZE = 1024
#: Most signals a worker hands to the sink at once: a whole default queue, so that a busy
#: handler pays one encode and one I/O call (a thread hop, for files) per queue-full.
DEFAULT_BATCH_SIZE = 1024
#: Retries of a failed batch before it is dropped as ``sink_error``.
DEFAULT_MAX_RETRIES = 3
#: First retry delay; it doubles with every retry.
DEFAULT_RETRY_BACKOFF_S = 0.05

Mode = Literal["dropping", "blocking", "sliding"]
MODES = ("blocking", "dropping", "sliding")
#: A middleware enriches or rewrites a signal, or drops it by returning ``None``.
Middleware = Callable[[Signal], Signal | None]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def check_middleware(middleware: Sequence[Middleware]) -> tuple[Middleware, ...]:
    """The middleware as a tuple, or ConfigError if one of them is not callable."""
    for mw in middleware:
        if not callable(mw):
            raise ConfigError(
                "middleware", f"must be callables Signal -> Signal | None, got {mw!r}"
            )
    return tuple(middleware)


def run_middleware(
    chain: Sequence[Middleware], sig: Signal, on_error: Callable[[Middleware, Exception], None]
) -> Signal | None:
    """Run ``sig`` through ``chain``; ``None`` as soon as one drops it.

    A middleware that raises is skipped: the signal goes on as it was, and ``on_error`` is told.
    """
    for mw in chain:
        try:
            out = mw(sig)
        except Exception as exc:
            on_error(mw, exc)
            continue
        if out is None:
            return None
        sig = out
    return sig


class Handler:
    """Delivers the signals offered to it to one :class:`~telemetry.sinks.Sink`.

    Created by :meth:`Telemetry.add_handler <telemetry.Telemetry.add_handler>`; see there for the
    options.
    """

    def __init__(
        self,
        name: str,
        sink: Sink,
        *,
        mode: Mode = "dropping",
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        workers: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        sync: bool = False,
        filters: Filters | None = None,
        middleware: Sequence[Middleware] = (),
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF_S,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name", f"must be a non-empty string, got {name!r}")
        if not isinstance(sink, Sink):
            raise ConfigError("sink", f"must be a telemetry.sinks.Sink, got {sink!r}")
        if mode not in MODES:
            raise ConfigError.choice("mode", mode, MODES)
        self.name = name
        self.sink = sink
        self.mode = mode
        self.buffer_size = _check_int("buffer_size", buffer_size, 1)
        self.workers = _check_int("workers", workers, 1)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.max_retries = _check_int("max_retries", max_retries, 0)
        if not isinstance(retry_backoff, (int, float)) or retry_backoff < 0:
            raise ConfigError("retry_backoff", f"must be a number >= 0, got {retry_backoff!r}")
        self.retry_backoff = float(retry_backoff)
        self.sync = bool(sync)
        self.filters = filters
        self.middleware = check_middleware(middleware)
        self.hub_middleware: tuple[Middleware, ...] = ()

        self.queue: SignalQueue[Signal] = SignalQueue(self.buffer_size)
        self.state: Literal["new", "open", "closing", "closed"] = "new"
        #: Whether offered signals are queued: from creation (a handler added to a running hub
        #: queues while its sink opens) until begin_close().
        self.accepting = True
        self._running = 0  # worker coroutines running now
        self._live = False  # workers scheduled and not yet finished (set before they first run)
        self._stopped = asyncio.Event()
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._reset_counts()

    def _reset_counts(self) -> None:
        # Signals offered but never queued (closed, queue_full, abandoned while parked). What
        # is queued is counted by the queue itself, so the emitting path counts nothing.
        self._rejected = 0
        self._inline = 0  # signals accepted for a synchronous write, not queued
        self.processed = 0
        self.written = 0
        self.dropped: Counter[str] = Counter()
        self.filtered = 0
        self.errors = 0
        self.retries = 0
        self.middleware_errors = 0
        self.batches = 0
        self.latency = LatencyRecorder()
        self._done = 0  # of those, how many the workers have finished with

    @property
    def accepted(self) -> int:
        """Signals accepted so far: queued (whether still queued, taken or evicted since) or
        written inline."""
        return self.queue.appended + self._inline

    @property
    def emitted(self) -> int:
        """Signals offered to this handler so far (after its filters)."""
        return self.accepted + self._rejected

    def reject(self, reason: str, n: int = 1) -> None:
        """Count ``n`` signals offered to this handler and dropped before they were queued."""
        self._rejected += n
        self.dropped[reason] += n

    # -- the emitting side (event loop thread) ------------------------------------------------

    def wants(self, sig: Signal, level: int) -> bool:
        """Apply this handler's own filters; count what they refuse."""
        filters = self.filters
        if filters is None:
            return True
        try:
            ok = filters.allows(sig, level)
        except Exception as exc:
            warn(f"filter:{self.name}", f"handler {self.name!r}: a filter raised {exc!r}")
            ok = False
        if not ok:
            self.filtered += 1
        return ok

    def offer(self, sig: Signal) -> bool:
        """Queue ``sig`` without waiting. Returns ``False`` only in blocking mode when the queue
        is full, so that the caller can wait with :meth:`offer_wait` (or count the drop)."""
        if not self.accepting:
            self.reject("closed")
            return True
        queue = self.queue
        # queue.put_nowait(sig), inlined: this runs for every signal and every handler.
        items = queue._items
        if len(items) < queue.maxsize:
            items.append(sig)
            if queue._getters:
                queue._wake(queue._getters)
            return True
        if self.mode == "sliding":
            queue.put_evicting(sig)
            self.dropped["evicted"] += 1
            # The evicted signal was accepted earlier and will never be processed: settle it.
            self._finished(1, processed=False)
            return True
        if self.mode == "dropping":
            self.reject("queue_full")
            return True
        return False  # counted by whichever path settles it

    async def offer_wait(self, sig: Signal) -> None:
        """Blocking mode: wait for room in the queue (back-pressure on the calling task)."""
        if not self.accepting or not await self.queue.put(sig):
            self.reject("closed")

    def refuse_full(self) -> None:
        """Count a blocking-mode signal that could not wait (the ``*_nowait`` form)."""
        self.reject("queue_full")

    async def write_inline(self, sig: Signal) -> None:
        """Synchronous mode: run middleware and write ``sig`` before returning."""
        if not self.accepting:
            self.reject("closed")
            return
        self._inline += 1
        await self._process([sig])

    def write_inline_nowait(self, sig: Signal) -> bool:
        """Synchronous mode without awaiting: write through ``sink.write_sync`` if the sink can;
        ``False`` if it cannot (the caller then queues instead)."""
        if type(self.sink).write_sync is Sink.write_sync:
            return False
        if not self.accepting:
            self.reject("closed")
            return True
        self._inline += 1
        self._process_sync([sig])
        return True

    # -- the worker side ----------------------------------------------------------------------

    async def open(self) -> None:
        """Open the sink. Raises whatever the sink raises (a ``TelemetryError``)."""
        await self.sink.open()
        if self.state == "new":  # not closed while the sink was opening
            self.state = "open"

    @property
    def running(self) -> bool:
        """Whether this handler's workers are scheduled or running."""
        return self._live

    def workers_scheduled(self) -> None:
        """The hub has scheduled this handler's workers (they may not have run yet)."""
        self._live = True
        self._stopped.clear()

    def workers_finished(self) -> None:
        """Every worker of this handler has returned, or was cancelled."""
        self._live = False
        self._stopped.set()

    async def run_worker(self) -> None:
        """Take batches from the queue and write them until the queue is closed and empty."""
        self._running += 1
        queue = self.queue
        try:
            while True:
                batch = await queue.get_batch(self.batch_size)
                if not batch:
                    break
                try:
                    await self._process(batch)
                except Exception as exc:  # a bug here must not take the app's task group down
                    warn(f"worker:{self.name}", f"handler {self.name!r}: worker error {exc!r}")
                # Off the emitting path, replace the uids those signals took (see new_uid).
                top_up_uids(len(batch))
        finally:
            self._running -= 1

    def _chain(self) -> tuple[Middleware, ...]:
        return self.hub_middleware + self.middleware

    def _middleware_failed(self, mw: Middleware, exc: Exception) -> None:
        self.middleware_errors += 1
        name = getattr(mw, "__qualname__", repr(mw))
        warn(f"mw:{self.name}:{name}", f"handler {self.name!r}: middleware {name} raised {exc!r}")

    def _apply_middleware(self, batch: list[Signal]) -> list[Signal]:
        chain = self._chain()
        if not chain:
            return batch
        out = []
        for sig in batch:
            res = run_middleware(chain, sig, self._middleware_failed)
            if res is None:
                self.dropped["middleware"] += 1
            else:
                out.append(res)
        return out

    async def _process(self, batch: list[Signal]) -> None:
        todo: list[Signal] = []
        try:
            todo = self._apply_middleware(batch)
            if todo:
                await self._write_with_retries(todo)
                todo = []
        except BaseException:
            # Cancelled mid-write (aclose timed out): the batch is lost, and says so.
            if todo:
                self.dropped["timeout"] += len(todo)
            raise
        finally:
            self._finished(len(batch))

    def _process_sync(self, batch: list[Signal]) -> None:
        try:
            todo = self._apply_middleware(batch)
            if todo:
                self._write_sync_once(todo)
        finally:
            self._finished(len(batch))

    def _finished(self, n: int, *, processed: bool = True) -> None:
        if processed:
            self.processed += n
        self._done += n
        if self._flush_waiters:
            done = self._done
            still = []
            for target, fut in self._flush_waiters:
                if done >= target:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    still.append((target, fut))
            self._flush_waiters = still

    async def _write_with_retries(self, batch: list[Signal]) -> None:
        sink = self.sink
        attempt = 0
        while True:
            t0 = time.perf_counter_ns()
            try:
                await sink.write(batch)
            except Exception as exc:
                self.errors += 1
                self.sink.take_drops()  # a failed write is retried whole
                if attempt >= self.max_retries or self.state == "closed":
                    self.dropped["sink_error"] += len(batch)
                    warn(
                        f"sink:{self.name}",
                        f"handler {self.name!r}: {sink.kind} sink failed, {len(batch)} signals "
                        f"dropped after {attempt + 1} attempts: {exc!r}",
                    )
                    return
                attempt += 1
                self.retries += 1
                await anyio.sleep(self.retry_backoff * (2 ** (attempt - 1)))
                continue
            self._settle(batch, time.perf_counter_ns() - t0)
            return

    def _write_sync_once(self, batch: list[Signal]) -> None:
        t0 = time.perf_counter_ns()
        try:
            self.sink.write_sync(batch)
        except Exception as exc:
            self.errors += 1
            self.sink.take_drops()
            self.dropped["sink_error"] += len(batch)
            warn(
                f"sink:{self.name}", f"handler {self.name!r}: {self.sink.kind} sink failed: {exc!r}"
            )
            return
        self._settle(batch, time.perf_counter_ns() - t0)

    def _settle(self, batch: list[Signal], elapsed_ns: int) -> None:
        self.latency.add(elapsed_ns)
        self.batches += 1
        lost = self.sink.take_drops()
        n_lost = sum(lost.values())
        if n_lost:
            self.dropped.update(lost)
        self.written += len(batch) - n_lost

    # -- flushing and closing -----------------------------------------------------------------

    async def flush(self) -> None:
        """Return once everything accepted before the call is written (or dropped); then flush
        the sink."""
        target = self.accepted
        if self._done < target and self.state != "closed":
            fut = asyncio.get_running_loop().create_future()
            self._flush_waiters.append((target, fut))
            await fut
        if self.sink.state == "open":
            try:
                await self.sink.flush()
            except Exception as exc:
                self.errors += 1
                warn(f"flush:{self.name}", f"handler {self.name!r}: flush failed: {exc!r}")

    def begin_close(self) -> None:
        """Stop accepting; idle workers will exit once the queue is empty."""
        self.accepting = False
        if self.state in ("open", "new"):
            self.state = "closing"
        self.queue.close()

    async def wait_drained(self) -> None:
        """Wait for the workers to finish the queue."""
        if self._live:
            await self._stopped.wait()

    def abandon(self, reason: str) -> None:
        """Count whatever is still queued as dropped for ``reason`` (timeout, exit)."""
        rest = self.queue.drain_nowait()
        if rest:
            self.dropped[reason] += len(rest)
            self._finished(len(rest), processed=False)

    async def close_sink(self) -> None:
        """Flush and close the sink; failures are counted and reported, never raised."""
        self.state = "closed"
        self.accepting = False
        for waiter in self._flush_waiters:
            if not waiter[1].done():
                waiter[1].set_result(None)
        self._flush_waiters.clear()
        try:
            await self.sink.aclose()
        except Exception as exc:
            self.errors += 1
            warn(f"close:{self.name}", f"handler {self.name!r}: closing the sink failed: {exc!r}")

    def write_batch_sync(self) -> None:
        """Without a loop (at exit): write one batch from the queue on this thread. A sink
        that cannot write synchronously counts it as dropped (``sink_error``)."""
        batch = self.queue.get_batch_nowait(self.batch_size)
        if batch:
            self._process_sync(batch)

    def close_sync(self, deadline: float) -> None:
        """Without a loop (at exit): write what is queued while time remains, then close."""
        self.state = "closed"
        self.accepting = False
        while len(self.queue) and time.monotonic() < deadline:
            self.write_batch_sync()
        self.abandon("exit")
        try:
            self.sink.close_sync()
        except Exception as exc:
            warn(f"close:{self.name}", f"handler {self.name!r}: closing at exit failed: {exc!r}")

    def after_fork(self) -> None:
        """In a forked child: the queued signals are the parent's to write, the parent's loop
        is gone. Start from zero, ready to be opened again; the sink lets go of the parent's
        resources (see ``Sink.after_fork``)."""
        self.queue = SignalQueue(self.buffer_size)
        self._flush_waiters = []
        self._stopped = asyncio.Event()
        self._running = 0
        self._live = False
        if self.state != "closed":
            self.state = "new"
            self.accepting = True
        self._reset_counts()
        self.sink.after_fork()

    # -- stats --------------------------------------------------------------------------------

    def stats(self) -> HandlerStats:
        """A snapshot of this handler's counts."""
        return HandlerStats(
            name=self.name,
            sink=self.sink.kind,
            mode=self.mode,
            state=self.state,
            emitted=self.emitted,
            processed=self.processed,
            written=self.written,
            dropped=dict(self.dropped),
            filtered=self.filtered,
            queued=len(self.queue),
            peak_queued=self.queue.peak,
            buffer_size=self.buffer_size,
            errors=self.errors,
            middleware_errors=self.middleware_errors,
            retries=self.retries,
            batches=self.batches,
            latency=self.latency.snapshot(),
            sink_counters=dict(self.sink.counters),
        )

    def __repr__(self) -> str:
        return f"<Handler {self.name!r} {self.mode} {self.sink!r} {self.state}>"
