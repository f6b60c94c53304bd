"""The default hub: the stack of open hubs that the module-level creators use.

Imports nothing else of the package, so that every layer may consult it. A hub pushes itself
when it opens and removes itself when it closes; listeners (the module-level creators, which
keep the default hub's tables in globals) hear of every change of the default hub or of its
configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["changed", "current_hub", "get_hub", "listen", "push", "remove", "set_fallback", "stack"]

stack: list[Any] = []
"""Open hubs, the most recently opened last. Read directly on hot paths (``stack[-1]``)."""
_listeners: list[Callable[[], None]] = []
_fallback: list[Callable[[], Any]] = []
"""Gives the stderr fallback hub; set by ``telemetry._fallback``, which sits above this module (code
below the hub that must reach the fallback, such as the OpenTelemetry providers, comes here
instead of importing it)."""


def get_hub() -> Any:
    """The default hub: the most recently opened one that is still open, or ``None``."""
    return stack[-1] if stack else None


def current_hub() -> Any:
    """The default hub, or when none is open the stderr fallback (``None`` before
    ``telemetry._fallback`` is imported, which ``import telemetry`` does)."""
    if stack:
        return stack[-1]
    return _fallback[0]() if _fallback else None


def set_fallback(get: Callable[[], Any]) -> None:
    """Register the function that gives the stderr fallback hub."""
    _fallback[:] = [get]


def listen(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever the default hub, or what it compiled, changes."""
    _listeners.append(listener)


def changed() -> None:
    """Tell the listeners that the default hub or its configuration changed."""
    for listener in _listeners:
        listener()


def push(hub: Any) -> None:
    """Make ``hub`` the default hub."""
    stack.append(hub)
    changed()


def remove(hub: Any) -> None:
    """Forget ``hub`` (closed, or forked away); the previous open hub becomes the default."""
    if hub in stack:
        stack.remove(hub)
        changed()
