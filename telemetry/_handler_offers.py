"""A handler's emitting side: offering it a signal, in every mode, from the loop or a thread.

[`HandlerOffers`][telemetry._handler_offers.HandlerOffers] sits between
[`HandlerWorker`][telemetry._handler_worker.HandlerWorker] and [`Handler`][telemetry.Handler]:
the methods a signal meets on its way in when the compiled emitter's own append is not enough
(a full queue, a waiting caller, a synchronous handler, another thread's signal, a closed
handler), and the counts of what is refused. Only the event loop's thread runs them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from ._filters import Filters
from ._handler_worker import HandlerWorker
from ._intake import Intake
from ._signal import Signal
from ._warn import warn
from .sinks._base import Sink

__all__ = ["PARKED_WAIT_FACTOR", "HandlerOffers"]

#: A parked signal (see ``HandlerOffers._offer_parking``) waits for room this many times
#: ``max_wait``: no caller waits with it, and a sink that takes longer than ``max_wait`` over
#: one batch on a busy loop (a few HTTP requests, every await a turn of the loop) is slow, not
#: stuck: the OTLP sink's first writes on a loop busy with 32 requests, which open their
#: connections, took 1.4 s. The parked signals stay bounded by the thread hand-over's limit,
#: and while threads wait for room (that limit reached) the wait is ``max_wait`` again.
PARKED_WAIT_FACTOR = 50


class HandlerOffers(HandlerWorker):
    """The emitting side of a [`Handler`][telemetry.Handler]: its methods, and the state
    they share with the rest of the handler (built by the handler's constructor)."""

    sync: bool
    max_wait: float
    filters: Filters | None
    intake: Intake
    _accepting: bool
    _rejected: int
    _inline: int
    _parked: deque[Signal]
    _pump_idle: asyncio.Event
    _spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None] | None
    _on_unpark: Callable[[], None]
    _threads_wait: Callable[[], bool]

    def _reject(self, reason: str, n: int = 1) -> None:
        """Count ``n`` signals offered to this handler and dropped before they were queued."""
        self._rejected += n
        self._dropped[reason] += n

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
        `_offer_wait` (a waiting mode, or a synchronous handler), else ``True``: queued
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
        A ``parked`` signal waits ``PARKED_WAIT_FACTOR`` times longer while no thread waits
        for room."""
        if self.sync:
            await self._write_inline(sig)
            return
        # A parked signal was emitted before the close: one the close could not let in was
        # given up on when its time ran out (``timeout``), not emitted after it (``closed``).
        too_late = "timeout" if parked else "closed"
        if not self._accepting:
            self._reject(too_late)
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
        done = await self._queue.put(sig, self.max_wait if bounded else None)
        if parked and bounded:
            # Longer for a parked signal, one max_wait at a time, unless threads wait for room
            # meanwhile: those are callers held up, as an awaited call is.
            more = PARKED_WAIT_FACTOR - 1
            while done is None and more and not self._threads_wait():
                more -= 1
                done = await self._queue.put(sig, self.max_wait)
        if done is None:
            self._stalled = True
            self._reject("stalled")
        elif not done:
            self._reject(too_late)

    def _refuse_closed(self, sig: Signal) -> bool:
        """Count a signal offered while the hub is not open (``closed``)."""
        self._reject("closed")
        return True

    def _refuse_full(self) -> None:
        """Count a signal that found the queue full and could not wait (``*_nowait``)."""
        self._reject("queue_full")

    def _settle_nowait(self, sig: Signal) -> None:
        """Settle ``sig`` for a caller that cannot wait (after `_offer_full` said wait):
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
        intake = self.intake
        if not intake.pumping:
            if self._accepting and not self.sync and self._queue.put_nowait(sig):
                return True
            if self._offer_full(sig) or (self.sync and self._write_inline_nowait(sig)):
                return True
        self._parked.append(sig)
        if not intake.pumping:
            if self._spawn is None:  # not running: nothing will make room
                self._parked.pop()
                self._refuse_full()
                return True
            intake.pumping = True
            self._pump_idle.clear()
            self._spawn(self._pump)
        return True

    async def _pump(self) -> None:
        # intake.pumping stays set from the first parked signal to the last, so that arrivals
        # queue behind the one in hand (the compiled ``deliver`` appends only while it is
        # clear); the one in hand is off the deque, so a close that gives up on the deque never
        # counts it twice.
        parked, intake = self._parked, self.intake
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
            intake.pumping = False
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
