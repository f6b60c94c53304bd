"""Module-level creators: ``import telemetry as tel; await tel.log("info", "hi")``.

Each one goes to the default hub (the most recently opened [`Telemetry`][telemetry.Telemetry] that
is still open) or, when none is open, to a fallback that prints one readable line per signal to
stderr. The creators are the methods of one `DefaultCreators`, the very
methods of [`Telemetry`][telemetry.Telemetry], bound to the default hub's tables of compiled
emitters and rebound whenever the default hub or its configuration changes: a call is one look-up
and one call, and both doors behave alike by construction.
"""

from __future__ import annotations

from . import _registry
from ._creators import DefaultCreators
from ._default import current_hub
from ._stats import Health, Stats

__all__ = [
    "error",
    "error_nowait",
    "event",
    "event_nowait",
    "exception",
    "exception_nowait",
    "flush",
    "health",
    "log",
    "log_nowait",
    "signal",
    "signal_nowait",
    "span",
    "stats",
    "traced",
]

_default = DefaultCreators(current_hub)
_registry.listen(_default.follow)

signal = _default.signal
"""Emit a signal on the default hub; see [`Telemetry.signal`][telemetry.Telemetry.signal]."""
signal_nowait = _default.signal_nowait
"""Emit without awaiting, from any thread; see
[`Telemetry.signal_nowait`][telemetry.Telemetry.signal_nowait]."""
log = _default.log
"""``await tel.log("info", "user joined", room=r)``: a log signal with ``data``, on the
default hub; ``error=exc`` records an exception, ``exc_info=True`` the one being handled. See
[`Telemetry.log`][telemetry.Telemetry.log]."""
log_nowait = _default.log_nowait
"""[`log`][telemetry.log] without awaiting, from any thread; see
[`Telemetry.log_nowait`][telemetry.Telemetry.log_nowait]."""
exception = _default.exception
"""In an ``except`` block: log ``msg`` with the exception being handled and its traceback;
see [`Telemetry.exception`][telemetry.Telemetry.exception]."""
exception_nowait = _default.exception_nowait
"""[`exception`][telemetry.exception] without awaiting, from any thread."""
event = _default.event
"""``await tel.event("user.signup", plan="pro")``; see
[`Telemetry.event`][telemetry.Telemetry.event]."""
event_nowait = _default.event_nowait
"""[`event`][telemetry.event] without awaiting, from any thread."""
error = _default.error
"""``raise await tel.error(exc)``: record the exception, get it back; see
[`Telemetry.error`][telemetry.Telemetry.error]."""
error_nowait = _default.error_nowait
"""[`error`][telemetry.error] without awaiting, from any thread; returns the exception."""
span = _default.span
"""``async with tel.span("db.query") as span:`` (or ``with``); see
[`Telemetry.span`][telemetry.Telemetry.span]."""
traced = _default.traced
"""Decorator: each call of the function runs in a span on the default hub of that moment
(or on ``hub=``); see [`Telemetry.traced`][telemetry.Telemetry.traced]."""


async def flush() -> None:
    """Flush the default hub; see [`Telemetry.flush`][telemetry.Telemetry.flush]."""
    await current_hub().flush()


def stats() -> Stats:
    """The default hub's stats; see [`Telemetry.stats`][telemetry.Telemetry.stats]."""
    return current_hub().stats()


def health() -> Health:
    """The default hub's health; see [`Telemetry.health`][telemetry.Telemetry.health]."""
    return current_hub().health()
