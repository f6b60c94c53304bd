"""The library's own warnings: straight to stderr, rate-limited, never through the pipeline.

A sink that fails a thousand times a second must not write a thousand lines a second, and a
warning about the pipeline must never become a signal in the pipeline (that way lies recursion).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

__all__ = ["WARN_INTERVAL_S", "Warner", "warn"]

#: At most one line per key in this many seconds; the rest are counted and summarised.
WARN_INTERVAL_S = 10.0


class Warner:
    """Rate-limited writer of warning lines to stderr, one budget per key; thread-safe."""

    def __init__(self, interval_s: float = WARN_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()
        #: Every warning issued or suppressed, by key (for tests and stats).
        self.counts: dict[str, int] = {}

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
        try:
            os.write(sys.stderr.fileno(), line.encode("utf-8", "backslashreplace"))
        except (OSError, ValueError, AttributeError):
            with contextlib.suppress(Exception):  # stderr is gone: nowhere left to say it
                sys.stderr.write(line)
        return True

    def after_fork(self) -> None:
        """A fresh lock and budget in a forked child."""
        self._lock = threading.Lock()
        self._last.clear()
        self._suppressed.clear()


_warner = Warner()
os.register_at_fork(after_in_child=_warner.after_fork)


def warn(key: str, message: str) -> bool:
    """Issue a rate-limited warning on stderr through the process-wide :class:`Warner`."""
    return _warner.warn(key, message)
