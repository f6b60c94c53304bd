"""Module-level creators: ``import telemetry as tel; await tel.log("info", "hi")``.

Each one goes to the default hub (the most recently opened :class:`Telemetry` that is still
open) or, when none is open, to a fallback that prints one readable line per signal to stderr.
The creators are the methods of one :class:`~telemetry._creators.DefaultCreators`, the very
methods of :class:`Telemetry`, bound to the default hub's tables of compiled emitters and
rebound whenever the default hub or its configuration changes: a call is one look-up and one
call, and both doors behave alike by construction.
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
"""Emit a signal on the default hub; see :meth:`Telemetry.signal`."""
signal_nowait = _default.signal_nowait
"""Emit without awaiting, from any thread; see :meth:`Telemetry.signal_nowait`."""
log = _default.log
"""``await tel.log("info", "user joined", room=r)``: a log signal with ``data``, on the
default hub; ``error=exc`` records an exception, ``exc_info=True`` the one being handled. See
:meth:`Telemetry.log`."""
log_nowait = _default.log_nowait
""":func:`log` without awaiting, from any thread; see :meth:`Telemetry.log_nowait`."""
exception = _default.exception
"""In an ``except`` block: log ``msg`` with the exception being handled and its traceback;
see :meth:`Telemetry.exception`."""
exception_nowait = _default.exception_nowait
""":func:`exception` without awaiting, from any thread."""
event = _default.event
"""``await tel.event("user.signup", plan="pro")``; see :meth:`Telemetry.event`."""
event_nowait = _default.event_nowait
""":func:`event` without awaiting, from any thread."""
error = _default.error
"""``raise await tel.error(exc)``: record the exception, get it back; see
:meth:`Telemetry.error`."""
error_nowait = _default.error_nowait
""":func:`error` without awaiting, from any thread; returns the exception."""
span = _default.span
"""``async with tel.span("db.query") as span:`` (or ``with``); see :meth:`Telemetry.span`."""
traced = _default.traced
"""Decorator: each call of the function runs in a span on the default hub of that moment
(or on ``hub=``); see :meth:`Telemetry.traced`."""


async def flush() -> None:
    """Flush the default hub; see :meth:`Telemetry.flush`."""
    await current_hub().flush()


def stats() -> Stats:
    """The default hub's stats; see :meth:`Telemetry.stats`."""
    return current_hub().stats()


def health() -> Health:
    """The default hub's health; see :meth:`Telemetry.health`."""
    return current_hub().health()
