"""A handler: one sink, its bounded queue, its workers, its filters and its counts.

Ownership: the queue belongs to the handler; only the event loop thread touches it. Signals
enter by an append when there is room (the hub's compiled emitter does that itself), else
through `Handler._offer_full`, which applies the mode, and, when the caller can wait,
`Handler._offer_wait`, built on the same non-waiting append. Signals from other threads
arrive on the loop through `Handler._offer_parking`, which keeps each thread's order by
parking them behind any that are already waiting. They leave through the workers, which take
whole batches, run middleware, and call ``sink.write`` once per batch. Every signal offered is,
in the end, either written or counted in ``dropped`` under a reason; the hub's close is what
makes "in the end" arrive.

An application reads a handler's name, its options and
[`Handler.stats`][telemetry.Handler.stats]. The hub, its runtime and the thread hand-over drive
it through its public methods; the emitting path binds its `Intake`, and nothing else of it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Literal

from ._errors import ConfigError
from ._filters import Filters
from ._handler_offers import HandlerOffers
from ._handler_worker import LINGER_BELOW, LINGER_S, LINGER_WITHIN_S
from ._intake import Intake
from ._middleware import Middleware, check_middleware
from ._options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT_S,
    DEFAULT_RETRY_BACKOFF_S,
    FILTER_NAMES,
    HANDLER,
    Mode,
)
from ._queue import SignalQueue
from ._signal import Signal
from ._stats import HandlerStats, LatencyRecorder
from ._warn import warn
from .sinks._base import Sink

__all__ = [
    "LINGER_BELOW",
    "LINGER_S",
    "LINGER_WITHIN_S",
    "Handler",
    "HandlerControl",
    "new_handler",
]


class Handler(HandlerOffers):
    """Delivers the signals offered to it to one [`Sink`][telemetry.sinks.Sink].

    Created by [`Telemetry.add_handler`][telemetry.Telemetry.add_handler], which builds its
    filters from the filter options; the options are readable here as attributes.
    [`stats`][telemetry.Handler.stats] tells what it did.

    Args:
        name: The handler's name, unique in its hub.
        sink: Where its signals are written.
        mode: What an awaited call does when the queue is full: wait, or drop a signal (see
            [`add_handler`][telemetry.Telemetry.add_handler]).
        buffer_size: The queue's capacity, in signals.
        workers: Worker tasks writing to the sink; by default the sink's own number (2 for
            OTLP, else 1).
        batch_size: Most signals a worker hands to the sink at once.
        max_wait: Longest wait for room in backpressure mode before a signal is dropped as
            stalled.
        sync: Write inline, before the call returns (debugging).
        filters: The handler's own filters, applied after the hub's (`None`: none).
        middleware: Functions that rewrite a signal, or drop it by returning None, in the
            workers. They run after the hub's.
        max_retries: Retries of a batch the sink failed to write before it is dropped as
            sink_error.
        retry_backoff: Seconds before the first retry; the delay doubles with each retry.

    Raises:
        ConfigError: The name, the sink or an option is not allowed; the message names the
            parameter and what is allowed.
    """

    def __init__(
        self,
        name: str,
        sink: Sink,
        *,
        mode: Mode = "backpressure",
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        workers: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_wait: float = DEFAULT_MAX_WAIT_S,
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
        #: The handler's name, unique in its hub.
        self.name = name
        #: The sink it writes to.
        self.sink = sink
        # The options' checks are their declarations' (telemetry._options).
        #: What a full queue does: ``backpressure``, ``blocking``, ``dropping`` or ``sliding``.
        self.mode = HANDLER["mode"].check(mode)
        self.buffer_size: int = HANDLER["buffer_size"].check(buffer_size)
        given = HANDLER["workers"].check(workers)
        #: Worker tasks writing to the sink (the sink's ``workers`` when not given).
        self.workers: int = sink.workers if given is None else given
        self.batch_size = HANDLER["batch_size"].check(batch_size)
        self.max_retries = HANDLER["max_retries"].check(max_retries)
        self.retry_backoff = HANDLER["retry_backoff"].check(retry_backoff)
        self.max_wait = HANDLER["max_wait"].check(max_wait)
        self.sync = HANDLER["sync"].check(sync)
        self.filters = filters
        self.middleware = check_middleware(middleware)
        self._hub_middleware: tuple[Middleware, ...] = ()

        self._state: Literal["new", "open", "closing", "closed"] = "new"
        #: Whether offered signals are queued: from creation (a handler added to a running hub
        #: queues while its sink opens) until begin_close().
        self._accepting = True
        #: Told whenever a parked signal leaves (the hub wakes threads waiting for room).
        self._on_unpark: Callable[[], None] = _nothing
        self._threads_wait: Callable[[], bool] = bool  # bool() is False
        # What the hub, its runtime and the thread hand-over drive (see HandlerControl).
        self.control = HandlerControl(
            self,
            # The ones the handler's sides define in their own modules.
            wants=self._wants,
            wait_unparked=self._wait_unparked,
            run_worker=self._run_worker,
            abandon_writes=self._abandon_writes,
        )
        self._fresh()

    def _fresh(self) -> None:
        """A new queue and intake, no workers, nothing parked, every count at zero: a new
        handler, or one in a forked child."""
        self._queue: SignalQueue[Signal] = SignalQueue(self.buffer_size)
        # What the compiled emitting path binds of this handler (see Intake).
        self.intake = self._new_intake()
        self._live = False  # workers scheduled and not yet finished (set before they first run)
        self._stopped = asyncio.Event()
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        #: Clear while a worker lets a small batch gather (see HandlerWorker._linger).
        self._gathered = asyncio.Event()
        self._gathered.set()
        #: Signals from other threads waiting, in arrival order, for room (see _offer_parking).
        self._parked: deque[Signal] = deque()
        #: Set while no pump runs: what flush and close wait on for the parked signals.
        self._pump_idle = asyncio.Event()
        self._pump_idle.set()
        #: Starts a task in the hub's task group (set by the hub while it runs).
        self._spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None] | None = None
        self._reset_counts()

    def _reset_counts(self) -> None:
        # Signals offered but never queued (closed, queue_full, stalled, abandoned while
        # parked). What is queued is counted by the queue itself, so the emitting path counts
        # nothing.
        self._rejected = 0
        self._inline = 0  # signals accepted for a synchronous write, not queued
        self._processed = 0
        self._written = 0
        self._dropped: Counter[str] = Counter()
        self.intake.filtered = 0
        self._errors = 0
        self._retries = 0
        self._middleware_errors = 0
        self._batches = 0
        self._latency = LatencyRecorder()
        self._done = 0  # of those, how many the workers have finished with
        #: Signals the workers hold now: taken from the queue, and of those in a sink's write.
        self._in_hand = [0, 0]
        #: The close gave up on workers stuck in a write (see _abandon_writes).
        self._abandoned = False
        #: Backpressure mode: the last wait for room ran out; calls drop at once until the
        #: workers take from the queue again.
        self._stalled = False

    def _new_intake(self) -> Intake:
        queue = self._queue
        return Intake(
            items=queue.items,
            capacity=queue.maxsize,
            waiting=queue.getters,
            wake=SignalQueue.wake_one,
            wants=self._wants,
            offer_full=self._offer_full,
            offer_parking=self._offer_parking,
            refuse_closed=self._refuse_closed,
            offer_wait=self._offer_wait,
            settle_nowait=self._settle_nowait,
        )

    # -- what the hub, its runtime and its emitting path drive (through control and intake) --

    def _join_hub(
        self,
        middleware: tuple[Middleware, ...],
        on_unpark: Callable[[], None],
        threads_wait: Callable[[], bool] = bool,
    ) -> None:
        """Added to a hub: run the hub's ``middleware`` before this handler's own, tell
        ``on_unpark`` whenever a parked signal leaves; ``threads_wait`` says whether emitting
        threads wait for room."""
        self._hub_middleware = middleware
        self._on_unpark = on_unpark
        self._threads_wait = threads_wait

    def _set_spawn(
        self, spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None] | None
    ) -> None:
        """How to start a task in the running hub's task group (``None``: not running)."""
        self._spawn = spawn

    def _open_inline(self) -> None:
        """Open with no loop and no sink to open: the stderr fallback, served on the
        emitting thread."""
        self._state = "open"

    def _fail_open(self) -> None:
        """The sink could not open: stop accepting, count what was queued meanwhile as
        ``sink_error``, and be closed."""
        self._begin_close()
        self._abandon("sink_error")
        self._state = "closed"

    def _park(self, sig: Signal) -> None:
        """Keep ``sig`` with the parked signals, for `close_sync` to write (at exit,
        with no loop)."""
        self._parked.append(sig)

    @property
    def _accepted(self) -> int:
        # Queued (whether still queued, taken or evicted since) or written inline.
        return self._queue.appended + self._inline

    # -- the worker side ----------------------------------------------------------------------

    async def _open(self) -> None:
        """Open the sink. Raises whatever the sink raises (a ``TelemetryError``)."""
        await self.sink.open()
        if self._state == "new":  # not closed while the sink was opening
            self._state = "open"

    def _workers_scheduled(self) -> None:
        """The hub has scheduled this handler's workers (they may not have run yet)."""
        self._live = True
        self._stopped.clear()

    def _workers_finished(self) -> None:
        """Every worker of this handler has returned, or was cancelled."""
        self._live = False
        self._stopped.set()

    # -- flushing and closing -----------------------------------------------------------------

    async def _flush(self) -> None:
        """Return once everything accepted before the call is written (or dropped); then flush
        the sink."""
        target = self._accepted
        if self._done < target and self._state != "closed":
            fut = asyncio.get_running_loop().create_future()
            self._flush_waiters.append((target, fut))
            await fut
        if self.sink.state == "open":
            try:
                await self.sink.flush()
            except Exception as exc:
                self._errors += 1
                warn(f"flush:{self.name}", f"handler {self.name!r}: flush failed: {exc!r}")

    def _begin_close(self) -> None:
        """Stop accepting; idle workers will exit once the queue is empty."""
        self._accepting = False
        if self._state in ("open", "new"):
            self._state = "closing"
        self._queue.close()

    async def _wait_drained(self) -> None:
        """Wait for the workers to finish the queue."""
        if self._live:
            await self._stopped.wait()

    def _abandon(self, reason: str) -> None:
        """Count whatever is still queued or parked as dropped for ``reason`` (timeout, exit)."""
        rest = self._queue.drain_nowait()
        if rest:
            self._dropped[reason] += len(rest)
            self._finished(len(rest), processed=False)
        self._abandon_parked(reason)

    async def _close_sink(self) -> None:
        """Flush and close the sink; failures are counted and reported, never raised."""
        self._state = "closed"
        self._accepting = False
        for waiter in self._flush_waiters:
            if not waiter[1].done():
                waiter[1].set_result(None)
        self._flush_waiters.clear()
        try:
            await self.sink.aclose()
        except Exception as exc:
            self._errors += 1
            warn(f"close:{self.name}", f"handler {self.name!r}: closing the sink failed: {exc!r}")

    def _write_batch_sync(self) -> None:
        """Without a loop (at exit): write one batch from the queue on this thread. A sink
        that cannot write synchronously counts it as dropped (``sink_error``)."""
        batch = self._queue.get_batch_nowait(self.batch_size)
        if batch:
            self._process_sync(batch)

    def _close_sync(self, deadline: float) -> None:
        """Without a loop (at exit): write what is queued, then what is parked, while time
        remains; count the rest (``exit``); close the sink."""
        self._state = "closed"
        self._accepting = False
        queue = self._queue
        parked = self._parked
        while (len(queue) or parked) and time.monotonic() < deadline:
            while parked and queue.put_nowait(parked[0]):
                parked.popleft()
            self._write_batch_sync()
        self._abandon("exit")
        try:
            self.sink.close_sync()
        except Exception as exc:
            warn(f"close:{self.name}", f"handler {self.name!r}: closing at exit failed: {exc!r}")

    def _after_fork(self) -> None:
        """In a forked child: the queued signals are the parent's to write, the parent's loop
        is gone. Start from zero, ready to be opened again; the sink lets go of the parent's
        resources (see ``Sink.after_fork``)."""
        self._fresh()
        if self._state != "closed":
            self._state = "new"
            self._accepting = True
        self.sink.after_fork()

    # -- stats --------------------------------------------------------------------------------

    def stats(self) -> HandlerStats:
        """A snapshot of this handler's counts."""
        return HandlerStats(
            name=self.name,
            sink=self.sink.kind,
            mode=self.mode,
            state=self._state,
            emitted=self._accepted + self._rejected,
            processed=self._processed,
            written=self._written,
            dropped=dict(self._dropped),
            filtered=self.intake.filtered,
            queued=len(self._queue) + len(self._parked),
            peak_queued=self._queue.peak,
            buffer_size=self.buffer_size,
            errors=self._errors,
            middleware_errors=self._middleware_errors,
            retries=self._retries,
            batches=self._batches,
            latency=self._latency.snapshot(),
            sink_counters=dict(self.sink.counters),
        )

    def __repr__(self) -> str:
        return f"<Handler {self.name!r} {self.mode} {self.sink!r} {self._state}>"


class HandlerControl:
    """The hub's handle on one handler: what the hub, its runtime and the thread hand-over
    read of it and drive, and nothing else (the emitting path binds the `Intake`).
    Built and owned by the handler (``handler.control``); an application has no use for it.

    Lifecycle: ``open`` (the sink), ``open_inline`` (no loop, no sink to open),
    ``fail_open``, ``begin_close``, ``wait_unparked``, ``wait_drained``, ``abandon(reason)``,
    ``abandon_writes``, ``close_sink``, ``close_sync(deadline)`` (at exit), ``after_fork``.
    Workers: ``set_spawn``, ``workers_scheduled``, ``run_worker``, ``workers_finished``.
    Joining a hub: ``join_hub(middleware, on_unpark, threads_wait)``. Signals:
    ``wants(sig, level)`` (the handler's own filter), ``park(sig)`` (for ``close_sync``),
    ``flush``. Reading:
    `state`, `running`, `queued`, `parked`, `offered`.
    """

    __slots__ = (
        "_handler",
        "abandon",
        "abandon_writes",
        "after_fork",
        "begin_close",
        "close_sink",
        "close_sync",
        "fail_open",
        "flush",
        "join_hub",
        "open",
        "open_inline",
        "park",
        "run_worker",
        "set_spawn",
        "wait_drained",
        "wait_unparked",
        "wants",
        "workers_finished",
        "workers_scheduled",
    )

    def __init__(
        self,
        handler: Handler,
        *,
        wants: Callable[[Signal, int], bool],
        wait_unparked: Callable[[], Coroutine[Any, Any, None]],
        run_worker: Callable[[], Coroutine[Any, Any, None]],
        abandon_writes: Callable[[], None],
    ) -> None:
        self._handler = handler
        self.open = handler._open
        self.open_inline = handler._open_inline
        self.fail_open = handler._fail_open
        self.begin_close = handler._begin_close
        self.wait_unparked = wait_unparked
        self.wait_drained = handler._wait_drained
        self.abandon = handler._abandon
        self.abandon_writes = abandon_writes
        self.close_sink = handler._close_sink
        self.close_sync = handler._close_sync
        self.after_fork = handler._after_fork
        self.set_spawn = handler._set_spawn
        self.workers_scheduled = handler._workers_scheduled
        self.run_worker = run_worker
        self.workers_finished = handler._workers_finished
        self.join_hub = handler._join_hub
        self.wants = wants
        self.park = handler._park
        self.flush = handler._flush

    def state(self) -> Literal["new", "open", "closing", "closed"]:
        """``new``, ``open``, ``closing`` or ``closed``."""
        h: Handler = self._handler
        return h._state

    def running(self) -> bool:
        """Whether workers are scheduled and not yet finished."""
        h: Handler = self._handler
        return h._live

    def queued(self) -> int:
        """Signals in the queue now."""
        h: Handler = self._handler
        return len(h._queue)

    def parked(self) -> int:
        """Signals from other threads waiting for room."""
        h: Handler = self._handler
        return len(h._parked)

    def parked_counter(self) -> Callable[[], int]:
        """`parked` as a C callable (the length of the handler's parked signals, which stay
        in one deque): asked for every OpenTelemetry span or record ended on the loop."""
        h: Handler = self._handler
        return functools.partial(len, h._parked)

    def offered(self) -> int:
        """Every signal offered to the handler so far, once settled: queued, written inline,
        dropped before it was queued, or refused by its filters."""
        h: Handler = self._handler
        return h._queue.appended + h._inline + h._rejected + h.intake.filtered


def new_handler(name: str, sink: Sink, options: Mapping[str, Any]) -> Handler:
    """A handler built from its options as [`add_handler`][telemetry.Telemetry.add_handler]
    takes them: the filter options become its `Filters`, the others its own.

    Args:
        name: The handler's name.
        sink: Its sink.
        options: Handler options by name (those declared in `telemetry._options.HANDLER`).

    Returns:
        The handler, not yet part of a hub.

    Raises:
        ConfigError: An option is not allowed.
    """
    filters = Filters.optional(**{k: v for k, v in options.items() if k in FILTER_NAMES})
    rest = {k: v for k, v in options.items() if k not in FILTER_NAMES}
    return Handler(name, sink, filters=filters, **rest)


def _nothing() -> None:
    pass
