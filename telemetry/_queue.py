"""The bounded queue between the emitting code and a handler's workers.

Not ``asyncio.Queue``: this one is used only from the event loop thread and does exactly what a
handler needs, at a fraction of the cost per signal. ``put_nowait`` is a length check and an
append (plus one wake-up when a worker is idle); workers take whole batches; the sliding mode
evicts the oldest item in place; and ``close()`` lets workers drain what is left and then stop.

Nothing is counted per item on the way in. Items leave only through counted takes, so
``taken + len(queue)`` is everything ever appended; and since the depth only grows between two
takes, the high-water mark is the largest depth seen at a take (or now), recorded by the taker.
The emitting path may therefore append to `SignalQueue.items` directly after a length
check.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["SignalQueue"]

T = TypeVar("T")


class SignalQueue(Generic[T]):
    """A bounded FIFO with batch reads, for one loop."""

    __slots__ = ("_peak", "_putters", "closed", "getters", "items", "maxsize", "taken")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.items: deque[T] = deque()
        """The items, oldest first. The seam with the emitting path, which appends here itself after
        a length check (then wakes one of `getters`); nothing else outside this class touches it."""
        self.getters: deque[asyncio.Future[None]] = deque()
        """Idle workers waiting for an item; wake one with `wake_one`."""
        self._putters: deque[asyncio.Future[None]] = deque()
        self._peak = 0
        self.taken = 0
        """Items removed so far (taken in batches, drained, or evicted)."""
        self.closed = False

    @property
    def appended(self) -> int:
        """Items appended so far."""
        return self.taken + len(self.items)

    @property
    def peak(self) -> int:
        """The highest depth reached so far."""
        return max(self._peak, len(self.items))

    def __len__(self) -> int:
        return len(self.items)

    def full(self) -> bool:
        """Whether a ``put_nowait`` would be refused."""
        return len(self.items) >= self.maxsize

    def put_nowait(self, item: T) -> bool:
        """Append ``item`` unless the queue is full; return whether it was appended."""
        items = self.items
        n = len(items)
        if n >= self.maxsize:
            return False
        items.append(item)
        if self.getters:
            self.wake_one(self.getters)
        return True

    def put_evicting(self, item: T) -> T | None:
        """Append ``item``; when full, first remove and return the oldest item."""
        items = self.items
        evicted = None
        if len(items) >= self.maxsize:
            if len(items) > self._peak:
                self._peak = len(items)
            evicted = items.popleft()
            self.taken += 1
        self.put_nowait(item)
        return evicted

    async def put(self, item: T, timeout: float | None = None) -> bool | None:
        """Append ``item``, waiting for room while the queue is full (back-pressure).

        Built on `put_nowait`: each wake-up tries it again. Returns ``True`` once
        appended, ``False`` without appending when the queue is closed before there is room,
        and ``None`` when ``timeout`` seconds pass without room.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self.closed:
            if self.put_nowait(item):
                return True
            if deadline is not None and loop.time() >= deadline:
                return None
            fut = loop.create_future()
            self._putters.append(fut)
            timer = None if deadline is None else loop.call_at(deadline, _expire, fut)
            try:
                await fut
            except BaseException:
                fut.cancel()
                # Pass the wake-up on if this waiter was woken and then cancelled.
                if not self.full():
                    self.wake_one(self._putters)
                raise
            finally:
                if timer is not None:
                    timer.cancel()
                    if fut in self._putters:  # expired: no wake-up will take it out
                        self._putters.remove(fut)
        return False

    def get_batch_nowait(self, limit: int) -> list[T]:
        """Remove and return up to ``limit`` items, oldest first (maybe none)."""
        items = self.items
        depth = len(items)
        if depth > self._peak:
            self._peak = depth
        n = min(limit, depth)
        self.taken += n
        if n == depth:
            batch = list(items)
            items.clear()
        else:
            popleft = items.popleft
            batch = [popleft() for _ in range(n)]
        if n and self._putters:
            for _ in range(n):
                if not self._putters:
                    break
                self.wake_one(self._putters)
        return batch

    async def get_batch(self, limit: int) -> list[T]:
        """Wait for at least one item, then take up to ``limit``; ``[]`` once closed and empty."""
        while not self.items:
            if self.closed:
                return []
            fut = asyncio.get_running_loop().create_future()
            self.getters.append(fut)
            try:
                await fut
            except BaseException:
                fut.cancel()
                if self.items:
                    self.wake_one(self.getters)
                raise
        return self.get_batch_nowait(limit)

    def drain_nowait(self) -> list[T]:
        """Remove and return everything."""
        return self.get_batch_nowait(len(self.items))

    def close(self) -> None:
        """Wake everyone: workers return ``[]`` once the queue is empty, waiting puts give up."""
        self.closed = True
        while self.getters:
            self.wake_one(self.getters)
        while self._putters:
            self.wake_one(self._putters)

    @staticmethod
    def wake_one(waiters: deque[asyncio.Future[None]]) -> None:
        """Wake the first of ``waiters`` that still waits."""
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
