"""Signals from other threads: handed over to the hub's event loop in order, never waited on
by the loop.

A signal emitted on another thread is built there (so that thread's context and span are
captured) and appended to a thread-safe inbox; the first append after the loop last looked
schedules one ``call_soon_threadsafe`` that delivers everything in it, so a burst costs one
wake-up of the loop, not one per signal. On the loop each handler takes it through
``Handler._offer_parking``, which parks it behind any signal of a waiting mode that is still
waiting for room, so that each thread's order holds. When the inbox and the parked signals pass
a limit, the emitting *thread* waits for room (only while some handler has a waiting mode, and
only while the loop runs); the loop never does.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterable

from ._signal import Signal

__all__ = ["ThreadBridge"]

Deliver = Callable[[Signal, int], object]
"""Deliver one signal on the loop: ``(signal, level)``."""


class ThreadBridge:
    """The hand-over from other threads to one hub's loop."""

    def __init__(self, limit: int) -> None:
        self.inbox: deque[tuple[Signal, int]] = deque()
        self._scheduled = False
        self._room = threading.Event()
        self._room.set()
        self.limit = limit
        """Inbox plus parked signals past which emitting threads wait (8 queues' worth)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deliver: Deliver | None = None
        self._parked: Callable[[], int] = lambda: 0
        self._waiting_modes = False

    def attach(
        self,
        loop: asyncio.AbstractEventLoop | None,
        deliver: Deliver | None,
        parked: Callable[[], int],
        waiting_modes: bool,
    ) -> None:
        """Bind to the running hub (or detach, with ``loop=None``). ``parked`` counts the
        handlers' parked signals; ``waiting_modes``: whether some handler waits for room."""
        self._loop = loop
        self._deliver = deliver
        self._parked = parked
        self._waiting_modes = waiting_modes

    def has_room(self) -> bool:
        """Whether parking one more signal keeps the inbox and the parked signals under the
        limit (on the loop: a caller that cannot wait parks only within it)."""
        return len(self.inbox) + self._parked() < self.limit

    def threads_wait(self) -> bool:
        """Whether emitting threads wait for room now (the limit was reached)."""
        return not self._room.is_set()

    def put(self, sig: Signal, lv: int) -> bool:
        """From another thread: hand ``sig`` over. ``False`` when no loop takes it (the hub is
        not running): the caller delivers it itself, as closed."""
        loop = self._loop
        if loop is None:
            return False
        if self._waiting_modes and len(self.inbox) + self._parked() >= self.limit:
            # Back-pressure for the waiting modes: this thread waits, the loop never does ...
            self._room.clear()
            # ... unless the loop has stopped (the app died without closing the hub): nothing
            # will make room then, and the exit fallback writes what the inbox holds.
            while (
                len(self.inbox) + self._parked() >= self.limit
                and self._loop is loop
                and loop.is_running()
            ):
                self._room.wait(0.05)
        self.inbox.append((sig, lv))
        if not self._scheduled:
            self._scheduled = True
            try:
                loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # the loop is closed: the exit fallback will count it
                self._scheduled = False
        return True

    def drain(self) -> None:
        """On the loop: deliver everything handed over so far, in order."""
        self._scheduled = False
        inbox = self.inbox
        deliver = self._deliver
        if deliver is None:
            return
        while inbox:
            sig, lv = inbox.popleft()
            deliver(sig, lv)
        self.unparked()

    def unparked(self) -> None:
        """Room may have been made: wake the threads that wait for it."""
        if not self._room.is_set() and len(self.inbox) + self._parked() < self.limit:
            self._room.set()

    def take_all(self) -> Iterable[tuple[Signal, int]]:
        """Without a loop (at exit): what threads handed over, emptying the inbox."""
        inbox = self.inbox
        while inbox:
            yield inbox.popleft()

    def after_fork(self) -> None:
        """In a forked child: the parent's signals are the parent's to write."""
        self.inbox.clear()
        self._scheduled = False
        self._room = threading.Event()
        self._room.set()
        self.attach(None, None, lambda: 0, False)
