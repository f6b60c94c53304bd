"""A handler's options: their defaults, the modes, middleware, and checking them.

What ``Telemetry.add_handler`` and a handler's mapping in ``Telemetry(handlers=...)`` take
besides the sink, with the checks the hub and the handler share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ._errors import ConfigError
from ._signal import Signal

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_WAIT_S",
    "DEFAULT_RETRY_BACKOFF_S",
    "HANDLER_OPTIONS",
    "MODES",
    "WAITING_MODES",
    "Middleware",
    "Mode",
    "check_handler_options",
    "check_middleware",
    "run_middleware",
]

#: Queue capacity per handler.
DEFAULT_BUFFER_SIZE = 1024
#: Most signals a worker hands to the sink at once: a whole default queue, so that a busy
#: handler pays one encode and one I/O call per queue-full.
DEFAULT_BATCH_SIZE = 1024
#: Longest an awaited call waits for room in ``backpressure`` mode (the default) before it
#: counts its signal as dropped (``stalled``); until the queue moves again, later calls do not
#: wait for the sink (they give the loop one turn, then drop).
DEFAULT_MAX_WAIT_S = 0.1
#: Retries of a failed batch before it is dropped as ``sink_error``.
DEFAULT_MAX_RETRIES = 3
#: First retry delay; it doubles with every retry.
DEFAULT_RETRY_BACKOFF_S = 0.05

Mode = Literal["backpressure", "blocking", "dropping", "sliding"]
MODES = ("backpressure", "blocking", "dropping", "sliding")
#: The modes in which an awaited call waits for room.
WAITING_MODES = frozenset({"backpressure", "blocking"})
#: A middleware enriches or rewrites a signal, or drops it by returning ``None``.
Middleware = Callable[[Signal], Signal | None]


#: The options a handler takes besides its sink: the keyword arguments of
#: ``Telemetry.add_handler``, and the keys of a handler's mapping in ``Telemetry(handlers=...)``.
HANDLER_OPTIONS = (
    "batch_size",
    "buffer_size",
    "id_filter",
    "kind_filter",
    "limit_by",
    "max_retries",
    "max_wait",
    "middleware",
    "min_level",
    "mode",
    "ns_filter",
    "rate_limit",
    "retry_backoff",
    "sample",
    "sample_errors",
    "sync",
    "when",
    "workers",
)


def check_handler_options(name: str, options: Mapping[str, Any]) -> None:
    """ConfigError naming the handler, the option and the allowed ones (with a "did you mean")
    for the first key of ``options`` that is not a handler option."""
    for key in options:
        if key not in HANDLER_OPTIONS:
            param = key if isinstance(key, str) else repr(key)
            raise ConfigError.unknown(param, HANDLER_OPTIONS, what="a handler", handler=name)


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
