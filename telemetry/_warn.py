"""The library's own warnings: straight to stderr, rate-limited, never through the pipeline.

A sink that fails a thousand times a second must not write a thousand lines a second, and a
warning about the pipeline must never become a signal in the pipeline (that way lies recursion).
A write to stderr can block (a full pipe, a stalled terminal), so on a thread that runs an event
loop the line is handed to one daemon writer thread instead; lines still pending at exit are
written then.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sys
import threading
import time

from . import _hooks

__all__ = ["WARN_INTERVAL_S", "Warner", "warn"]

WARN_INTERVAL_S = 10.0
"""At most one line per key in this many seconds; the rest are counted and summarised."""


class Warner:
    """Rate-limited writer of warning lines to stderr, one budget per key; thread-safe."""

    def __init__(self, interval_s: float = WARN_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        """Every warning issued or suppressed, by key (for tests and stats)."""
        self._pending: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._unwritten = 0
        """Lines handed to the writer thread and not yet written, and who waits for none."""
        self._idle = threading.Condition()

    def warn(self, key: str, message: str) -> bool:
        """Write ``message`` unless ``key`` was written in the last interval; say if written."""
        now = time.monotonic()
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            skipped = self._suppressed.pop(key, 0)
        more = f" ({skipped} similar warnings suppressed)" if skipped else ""
        line = f"aiotelemetry: {message}{more}\n"
        if asyncio._get_running_loop() is None:
            _write(line)
        else:
            self._hand_over(line)
        return True

    def _hand_over(self, line: str) -> None:
        with self._idle:
            self._unwritten += 1
        self._pending.put(line)
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    writer = threading.Thread(
                        target=self._write_pending, name="aiotelemetry-warnings", daemon=True
                    )
                    try:
                        writer.start()
                    except RuntimeError:
                        # No new thread at interpreter shutdown (Python 3.12+, from atexit):
                        # the line is written here, as it is without a loop.
                        self.drain()
                        return
                    self._writer = writer

    def _write_pending(self) -> None:
        while True:
            _write(self._pending.get())
            self._written_one()

    def _written_one(self) -> None:
        with self._idle:
            self._unwritten -= 1
            if not self._unwritten:
                self._idle.notify_all()

    def drain(self) -> None:
        """Write the lines still waiting for the writer thread (at exit)."""
        while True:
            try:
                _write(self._pending.get_nowait())
            except queue.Empty:
                return
            self._written_one()

    def wait_written(self, timeout: float = 5.0) -> bool:
        """Wait, at most ``timeout`` seconds, until every line handed to the writer thread is
        on stderr; say whether it is. For code that reads stderr back (tests)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._unwritten:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def after_fork(self) -> None:
        """A fresh lock, budget and writer in a forked child."""
        self._lock = threading.Lock()
        self._last.clear()
        self._suppressed.clear()
        self._pending = queue.SimpleQueue()
        self._writer = None
        self._unwritten = 0
        self._idle = threading.Condition()


def _write(line: str) -> None:
    try:
        os.write(sys.stderr.fileno(), line.encode("utf-8", "backslashreplace"))
    except (OSError, ValueError, AttributeError):
        with contextlib.suppress(Exception):  # stderr is gone: nowhere left to say it
            sys.stderr.write(line)


_warner = Warner()
_hooks.in_forked_child(_warner.after_fork, _hooks.LOCKS)
_hooks.at_exit(_warner.drain, _hooks.WARNINGS)


def warn(key: str, message: str) -> bool:
    """Issue a rate-limited warning on stderr through the process-wide `Warner`."""
    return _warner.warn(key, message)
