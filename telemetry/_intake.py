"""A handler's intake: exactly what the compiled emitting path binds of one handler.

The emitter appends a signal to a handler's queue itself when there is room (a length check
and an append), and wakes one idle worker; everything else goes to the handler through the
paths held here. The handler builds its intake and owns it (a new one when its queue is
replaced, in a forked child); the emitting path reads nothing else of the handler or its queue.
This is the one seam between them, as anyio's memory streams meet at one shared state object.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from ._signal import Signal

__all__ = ["Intake"]


class Intake:
    """What the emitting path binds of one handler.

    ``items``, ``capacity``, ``waiting`` and ``wake``: the queue's items (append when
    ``len(items) < capacity``), its idle workers and how to wake one. ``wants``: the
    handler's own filter (counts what it refuses). ``offer_full``: a signal the append did not
    take (evict, drop, or ``False``: the caller should wait); ``offer_parking``: a signal from
    another thread, delivered on the loop; ``refuse_closed``: a signal offered while the hub is
    not open. ``offer_wait`` and ``settle_nowait``: what an awaited call and a ``*_nowait``
    call do when ``offer_full`` said wait. ``filtered``: the signals the handler's filter
    refused, counted here (a level decided when compiling is counted by the emitter itself).
    ``pumping``: set while signals from other threads wait for room (parked), from the first
    to the last: a signal delivered meanwhile goes behind them, not into the queue.
    """

    __slots__ = (
        "capacity",
        "filtered",
        "items",
        "offer_full",
        "offer_parking",
        "offer_wait",
        "pumping",
        "refuse_closed",
        "settle_nowait",
        "waiting",
        "wake",
        "wants",
    )

    def __init__(
        self,
        *,
        items: deque[Signal],
        capacity: int,
        waiting: deque[asyncio.Future[None]],
        wake: Callable[[deque[asyncio.Future[None]]], None],
        wants: Callable[[Signal, int], bool],
        offer_full: Callable[[Signal], bool],
        offer_parking: Callable[[Signal], bool],
        refuse_closed: Callable[[Signal], bool],
        offer_wait: Callable[[Signal], Coroutine[Any, Any, None]],
        settle_nowait: Callable[[Signal], None],
    ) -> None:
        self.items = items
        self.capacity = capacity
        self.waiting = waiting
        self.wake = wake
        self.wants = wants
        self.offer_full = offer_full
        self.offer_parking = offer_parking
        self.refuse_closed = refuse_closed
        self.offer_wait = offer_wait
        self.settle_nowait = settle_nowait
        self.filtered = 0
        self.pumping = False
