"""Capture taps: callables that see every signal a hub dispatches, before any handler.

``telemetry.testing.capture_signals`` inserts one for the duration of a block and removes it
afterwards. Hubs compile a tap stage into their emitters only while a tap is installed, so in
production the stage is not there at all; installing or removing one tells the hubs to
recompile. Imports nothing else of the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["TAPS", "add_tap", "on_change", "remove_tap"]

TAPS: list[Callable[[Any], None]] = []
"""The installed taps, in the order they were added. Read by the compiled emitters."""
_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever a tap is added or removed."""
    _listeners.append(listener)


def add_tap(tap: Callable[[Any], None]) -> None:
    """Install ``tap``: from now on it sees every signal dispatched, synchronously."""
    TAPS.append(tap)
    for listener in list(_listeners):
        listener()


def remove_tap(tap: Callable[[Any], None]) -> None:
    """Remove ``tap`` (installed with `add_tap`)."""
    TAPS.remove(tap)
    for listener in list(_listeners):
        listener()
