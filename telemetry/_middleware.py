"""Middleware: functions that enrich or rewrite a signal, or drop it, in a handler's workers.

The hub's middleware runs first, then the handler's own, once per signal, off the emitting
path; one that raises is skipped for that signal and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._errors import ConfigError
from ._signal import Signal

__all__ = ["Middleware", "check_middleware", "run_middleware"]

#: A middleware enriches or rewrites a signal, or drops it by returning ``None``.
Middleware = Callable[[Signal], Signal | None]


def check_middleware(middleware: Sequence[Middleware]) -> tuple[Middleware, ...]:
    """The middleware as a tuple, or ConfigError if one of them is not callable."""
    for mw in middleware:
        if not callable(mw):
            raise ConfigError(
                "middleware", f"must be callables Signal -> Signal | None, got {mw!r}"
            )
    return tuple(middleware)


def run_middleware(
    chain: Sequence[Middleware], sig: Signal, on_error: Callable[[Middleware, Exception], None]
) -> Signal | None:
    """Run ``sig`` through ``chain``; ``None`` as soon as one drops it.

    A middleware that raises is skipped: the signal goes on as it was, and ``on_error`` is told.
    """
    for mw in chain:
        try:
            out = mw(sig)
        except Exception as exc:
            on_error(mw, exc)
            continue
        if out is None:
            return None
        sig = out
    return sig
