"""A handler: one sink, its bounded queue, its workers, its filters and its counts.

Ownership: the queue belongs to the handler; only the event loop thread touches it. Signals
enter by an append when there is room (the hub's compiled emitter does that itself), else
through :meth:`Handler._offer_full`, which applies the mode, and, when the caller can wait,
:meth:`Handler._offer_wait`, built on the same non-waiting append. Signals from other threads
arrive on the loop through :meth:`Handler._offer_parking`, which keeps each thread's order by
parking them behind any that are already waiting. They leave through the workers, which take
whole batches, run middleware, and call ``sink.write`` once per batch. Every signal offered is,
in the end, either written or counted in ``dropped`` under a reason; the hub's close is what
makes "in the end" arrive.

An application reads a handler's name, its options and :meth:`Handler.stats`. The hub, its
runtime and the thread hand-over drive it through its public methods; the emitting path binds
its :class:`~telemetry._intake.Intake`, and nothing else of it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

import anyio

from ._errors import ConfigError, check_int
from ._filters import Filters
from ._handler_options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT_S,
    DEFAULT_RETRY_BACKOFF_S,
    MODES,
    WAITING_MODES,
    Middleware,
    Mode,
    check_middleware,
    run_middleware,
)
from ._intake import Intake
from ._queue import SignalQueue
from ._signal import Signal, top_up_uids
from ._stats import HandlerStats, LatencyRecorder
from ._warn import warn
from .sinks._base import Sink

__all__ = ["LINGER_BELOW", "LINGER_S", "LINGER_WITHIN_S", "Handler", "HandlerControl"]

#: How long a worker lets a small batch gather more signals, when the previous batch was taken
#: less than :data:`LINGER_WITHIN_S` ago (in the modes where calls wait for room, not drop):
#: at a moderate, steady rate (a log per websocket message) each wake-up would otherwise take
#: one or two signals and pay a task switch, an encode and a write for each. Only the write
#: is later; no call waits for it.
LINGER_S = 0.002
#: A worker lingers only when signals keep coming: its last batch was this recent.
LINGER_WITHIN_S = 0.005
#: A batch this small (or smaller) is worth lingering for.
LINGER_BELOW = 64
#: A parked signal (see :meth:`Handler._offer_parking`) waits for room this many times
#: ``max_wait``: no caller waits with it, and a sink that takes longer than ``max_wait`` over
#: one batch on a busy loop (a few HTTP requests, every await a turn of the loop) is slow, not
#: stuck. The parked signals stay bounded by the thread hand-over's limit.
PARKED_WAIT_FACTOR = 10


class Handler:
    """Delivers the signals offered to it to one :class:`~telemetry.sinks.Sink`.

    Created by :meth:`Telemetry.add_handler <telemetry.Telemetry.add_handler>`; see there for the
    options, which are readable here as attributes. :meth:`stats` tells what it did.
    """

    def __init__(
        self,
        name: str,
        sink: Sink,
        *,
        mode: Mode = "backpressure",
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        workers: int = 1,
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
        if mode not in MODES:
            raise ConfigError.choice("mode", mode, MODES)
        #: The handler's name, unique in its hub.
        self.name = name
        #: The sink it writes to.
        self.sink = sink
        #: What a full queue does: ``backpressure``, ``blocking``, ``dropping`` or ``sliding``.
        self.mode = mode
        self.buffer_size = check_int("buffer_size", buffer_size, 1)
        self.workers = check_int("workers", workers, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.max_retries = check_int("max_retries", max_retries, 0)
        if not isinstance(retry_backoff, (int, float)) or retry_backoff < 0:
            raise ConfigError("retry_backoff", f"must be a number >= 0, got {retry_backoff!r}")
        self.retry_backoff = float(retry_backoff)
        if (
            isinstance(max_wait, bool)
            or not isinstance(max_wait, (int, float))
            or not 0 < max_wait < float("inf")
        ):
            raise ConfigError("max_wait", f"must be a number of seconds > 0, got {max_wait!r}")
        self.max_wait = float(max_wait)
        self.sync = bool(sync)
        self.filters = filters
        self.middleware = check_middleware(middleware)
        self._hub_middleware: tuple[Middleware, ...] = ()

        self._state: Literal["new", "open", "closing", "closed"] = "new"
        #: Whether offered signals are queued: from creation (a handler added to a running hub
        #: queues while its sink opens) until begin_close().
        self._accepting = True
        #: Told whenever a parked signal leaves (the hub wakes threads waiting for room).
        self._on_unpark: Callable[[], None] = _nothing
        # What the hub, its runtime and the thread hand-over drive (see HandlerControl).
        self.control = HandlerControl(self)
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
        #: Signals from other threads waiting, in arrival order, for room (see _offer_parking).
        self._parked: deque[Signal] = deque()
        self._pumping = False
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

    def _join_hub(self, middleware: tuple[Middleware, ...], on_unpark: Callable[[], None]) -> None:
        """Added to a hub: run the hub's ``middleware`` before this handler's own, and tell
        ``on_unpark`` whenever a parked signal leaves."""
        self._hub_middleware = middleware
        self._on_unpark = on_unpark

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
        """Keep ``sig`` with the parked signals, for :meth:`close_sync` to write (at exit,
        with no loop)."""
        self._parked.append(sig)

    @property
    def _accepted(self) -> int:
        # Queued (whether still queued, taken or evicted since) or written inline.
        return self._queue.appended + self._inline

    def _reject(self, reason: str, n: int = 1) -> None:
        """Count ``n`` signals offered to this handler and dropped before they were queued."""
        self._rejected += n
        self._dropped[reason] += n

    # -- the emitting side (event loop thread) ------------------------------------------------

    def _wants(self, sig: Signal, level: int) -> bool:
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
            self.intake.filtered += 1
        return ok

    def _offer_full(self, sig: Signal) -> bool:
        """Offer ``sig`` when the emitter's own append found no room (or this handler takes no
        appends: closed, synchronous). Returns ``False`` when the caller should wait with
        :meth:`_offer_wait` (a waiting mode, or a synchronous handler), else ``True``: queued
        after all, evicted the oldest, or counted as dropped."""
        if not self._accepting:
            self._reject("closed")
            return True
        if self.sync:
            return False
        queue = self._queue
        if queue.put_nowait(sig):
            return True
        mode = self.mode
        if mode == "sliding":
            queue.put_evicting(sig)
            self._dropped["evicted"] += 1
            # The evicted signal was accepted earlier and will never be processed: settle it.
            self._finished(1, processed=False)
            return True
        if mode == "dropping":
            self._reject("queue_full")
            return True
        return False

    async def _offer_wait(self, sig: Signal, *, parked: bool = False) -> None:
        """Wait for room (the waiting modes) or write inline (synchronous); count what fails.
        A ``parked`` signal waits :data:`PARKED_WAIT_FACTOR` times longer."""
        if self.sync:
            await self._write_inline(sig)
            return
        if not self._accepting:
            self._reject("closed")
            return
        bounded = self.mode == "backpressure"
        if bounded and self._stalled:
            # The sink has not moved since a wait ran out: no wait for it, only one turn of
            # the loop, so that a loop that awaits nothing else still lets the workers run
            # and notices at once when the sink moves again.
            await asyncio.sleep(0)
            if not self._queue.put_nowait(sig):
                self._reject("stalled")
            return
        wait = self.max_wait * PARKED_WAIT_FACTOR if parked else self.max_wait
        done = await self._queue.put(sig, wait if bounded else None)
        if done is None:
            self._stalled = True
            self._reject("stalled")
        elif not done:
            self._reject("closed")

    def _refuse_closed(self, sig: Signal) -> bool:
        """Count a signal offered while the hub is not open (``closed``)."""
        self._reject("closed")
        return True

    def _refuse_full(self) -> None:
        """Count a signal that found the queue full and could not wait (``*_nowait``)."""
        self._reject("queue_full")

    def _settle_nowait(self, sig: Signal) -> None:
        """Settle ``sig`` for a caller that cannot wait (after :meth:`_offer_full` said wait):
        a synchronous handler writes it through the sink's ``write_sync`` if it has one, else
        queues it; a waiting mode counts it as dropped."""
        if self.sync:
            if not self._write_inline_nowait(sig) and not self._queue.put_nowait(sig):
                self._refuse_full()
        else:
            self._refuse_full()

    def _offer_parking(self, sig: Signal) -> bool:
        """Offer a signal that another thread emitted. Where the caller would have waited,
        the signal is parked instead and a pump task waits for it; a signal that arrives while
        others are parked goes behind them, so each thread's order holds in every mode. Always
        ``True``: the signal is settled or in the handler's care."""
        if not self._pumping:
            if self._accepting and not self.sync and self._queue.put_nowait(sig):
                return True
            if self._offer_full(sig) or (self.sync and self._write_inline_nowait(sig)):
                return True
        self._parked.append(sig)
        if not self._pumping:
            if self._spawn is None:  # not running: nothing will make room
                self._parked.pop()
                self._refuse_full()
                return True
            self._pumping = True
            self._pump_idle.clear()
            self._spawn(self._pump)
        return True

    async def _pump(self) -> None:
        # _pumping stays set from the first parked signal to the last, so that arrivals queue
        # behind the one in hand; the one in hand is off the deque, so a close that gives up
        # on the deque never counts it twice.
        parked = self._parked
        try:
            while parked:
                sig = parked.popleft()
                try:
                    await self._offer_wait(sig, parked=True)
                except BaseException:  # cancelled: the hub's close gave up on it
                    self._reject("timeout")
                    raise
                self._on_unpark()
        finally:
            self._pumping = False
            self._pump_idle.set()

    async def _wait_unparked(self) -> None:
        """Wait until the signals parked so far have been let in (or counted)."""
        await self._pump_idle.wait()

    def _abandon_parked(self, reason: str) -> None:
        """Count the parked signals as dropped for ``reason`` (the close gave up on them)."""
        if self._parked:
            self._reject(reason, len(self._parked))
            self._parked.clear()
            self._on_unpark()

    async def _write_inline(self, sig: Signal) -> None:
        """Synchronous mode: run middleware and write ``sig`` before returning."""
        if not self._accepting:
            self._reject("closed")
            return
        self._inline += 1
        await self._process([sig])

    def _write_inline_nowait(self, sig: Signal) -> bool:
        """Synchronous mode without awaiting: write through ``sink.write_sync`` if the sink can;
        ``False`` if it cannot (the caller then queues instead)."""
        if type(self.sink).write_sync is Sink.write_sync:
            return False
        if not self._accepting:
            self._reject("closed")
            return True
        self._inline += 1
        self._process_sync([sig])
        return True

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

    async def _run_worker(self) -> None:
        """Take batches from the queue and write them until the queue is closed and empty."""
        queue = self._queue
        clock = asyncio.get_running_loop().time
        last = float("-inf")
        # Only where a full queue makes calls wait, not drop, may the queue fill meanwhile.
        linger = self.mode in WAITING_MODES
        while True:
            batch = await queue.get_batch(self.batch_size)
            if not batch:
                break
            self._stalled = False  # the queue moved: calls may wait for room again
            try:
                await self._process(batch)
            except Exception as exc:  # a bug here must not take the app's task group down
                warn(f"worker:{self.name}", f"handler {self.name!r}: worker error {exc!r}")
            # Off the emitting path, replace the uids those signals took (see new_uid).
            top_up_uids(len(batch))
            # Signals keep coming, a few at a time: let the next batch gather (LINGER_S). The
            # worker holds nothing while it waits; what arrives stays in the queue, counted.
            now = clock()
            if (
                linger
                and len(batch) < LINGER_BELOW
                and now - last < LINGER_WITHIN_S
                and not queue.closed
                and not self._flush_waiters
            ):
                await asyncio.sleep(LINGER_S)
            last = now

    def _middleware_failed(self, mw: Middleware, exc: Exception) -> None:
        self._middleware_errors += 1
        name = getattr(mw, "__qualname__", repr(mw))
        warn(f"mw:{self.name}:{name}", f"handler {self.name!r}: middleware {name} raised {exc!r}")

    def _apply_middleware(self, batch: list[Signal]) -> list[Signal]:
        chain = self._hub_middleware + self.middleware
        if not chain:
            return batch
        out = []
        for sig in batch:
            res = run_middleware(chain, sig, self._middleware_failed)
            if res is None:
                self._dropped["middleware"] += 1
            else:
                out.append(res)
        return out

    async def _process(self, batch: list[Signal]) -> None:
        todo: list[Signal] = []
        self._in_hand[0] += len(batch)
        try:
            todo = self._apply_middleware(batch)
            if todo:
                self._in_hand[1] += len(todo)
                try:
                    await self._write_with_retries(todo)
                finally:
                    self._in_hand[1] -= len(todo)
                todo = []
        except BaseException:
            # Cancelled mid-write (the close timed out): the batch is lost, and says so.
            if todo and not self._abandoned:
                self._dropped["timeout"] += len(todo)
            raise
        finally:
            self._in_hand[0] -= len(batch)
            if not self._abandoned:
                self._finished(len(batch))

    def _abandon_writes(self) -> None:
        """The close gave up on workers stuck in a write that ignores cancellation (a thread
        that never returns): count what they hold as ``timeout`` now, and nothing they do
        afterwards, so that the counts are final and exact."""
        if self._abandoned:
            return
        self._abandoned = True
        taken, writing = self._in_hand
        if writing:
            self._dropped["timeout"] += writing
        if taken:
            self._finished(taken, processed=False)

    def _process_sync(self, batch: list[Signal]) -> None:
        try:
            todo = self._apply_middleware(batch)
            if todo:
                self._write_sync_once(todo)
        finally:
            self._finished(len(batch))

    def _finished(self, n: int, *, processed: bool = True) -> None:
        if processed:
            self._processed += n
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
                if self._abandoned:  # counted as timeout when the close gave up on it
                    return
                self._errors += 1
                sink.take_drops()  # a failed write is retried whole
                if attempt >= self.max_retries or self._state == "closed":
                    self._dropped["sink_error"] += len(batch)
                    warn(
                        f"sink:{self.name}",
                        f"handler {self.name!r}: {sink.kind} sink failed, {len(batch)} signals "
                        f"dropped after {attempt + 1} attempts: {exc!r}",
                    )
                    return
                attempt += 1
                self._retries += 1
                await anyio.sleep(self.retry_backoff * (2 ** (attempt - 1)))
                continue
            self._settle(batch, time.perf_counter_ns() - t0)
            return

    def _write_sync_once(self, batch: list[Signal]) -> None:
        t0 = time.perf_counter_ns()
        try:
            self.sink.write_sync(batch)
        except Exception as exc:
            self._errors += 1
            self.sink.take_drops()
            self._dropped["sink_error"] += len(batch)
            warn(
                f"sink:{self.name}", f"handler {self.name!r}: {self.sink.kind} sink failed: {exc!r}"
            )
            return
        self._settle(batch, time.perf_counter_ns() - t0)

    def _settle(self, batch: list[Signal], elapsed_ns: int) -> None:
        if self._abandoned:  # counted as timeout when the close gave up on it
            return
        self._latency.add(elapsed_ns)
        self._batches += 1
        lost = self.sink.take_drops()
        n_lost = sum(lost.values())
        if n_lost:
            self._dropped.update(lost)
        self._written += len(batch) - n_lost

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
    read of it and drive, and nothing else (the emitting path binds the :class:`Intake`).
    Built and owned by the handler (``handler.control``); an application has no use for it.

    Lifecycle: ``open`` (the sink), ``open_inline`` (no loop, no sink to open),
    ``fail_open``, ``begin_close``, ``wait_unparked``, ``wait_drained``, ``abandon(reason)``,
    ``abandon_writes``, ``close_sink``, ``close_sync(deadline)`` (at exit), ``after_fork``.
    Workers: ``set_spawn``, ``workers_scheduled``, ``run_worker``, ``workers_finished``.
    Joining a hub: ``join_hub(middleware, on_unpark)``. Signals: ``wants(sig, level)`` (the
    handler's own filter), ``park(sig)`` (for ``close_sync``), ``flush``. Reading:
    :meth:`state`, :meth:`running`, :meth:`queued`, :meth:`parked`, :meth:`offered`.
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

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.open = handler._open
        self.open_inline = handler._open_inline
        self.fail_open = handler._fail_open
        self.begin_close = handler._begin_close
        self.wait_unparked = handler._wait_unparked
        self.wait_drained = handler._wait_drained
        self.abandon = handler._abandon
        self.abandon_writes = handler._abandon_writes
        self.close_sink = handler._close_sink
        self.close_sync = handler._close_sync
        self.after_fork = handler._after_fork
        self.set_spawn = handler._set_spawn
        self.workers_scheduled = handler._workers_scheduled
        self.run_worker = handler._run_worker
        self.workers_finished = handler._workers_finished
        self.join_hub = handler._join_hub
        self.wants = handler._wants
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

    def offered(self) -> int:
        """Every signal offered to the handler so far, once settled: queued, written inline,
        dropped before it was queued, or refused by its filters."""
        h: Handler = self._handler
        return h._queue.appended + h._inline + h._rejected + h.intake.filtered


def _nothing() -> None:
    pass
