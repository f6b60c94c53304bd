"""Where module-level calls go before any hub is open: one readable line per signal on stderr.

A new user's first ``tel.log("info", "hi")`` prints, before anything is configured, as they
expect. The fallback is an ordinary hub with one synchronous handler, served on the emitting
thread (there is no loop to hand over to): each signal at or above the minimum level (``info``,
or ``TELEMETRY_MIN_LEVEL``) is written before the call returns.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from . import _registry
from ._hub import Telemetry
from ._signal import Signal
from ._warn import warn
from .formats import JsonFormat, TextFormat
from .sinks._base import Sink

__all__ = ["fallback_hub"]

_fallback: Telemetry | None = None


class _StderrSink(Sink):
    """Each signal as one line on stderr, in the ``TELEMETRY_FORMAT`` of the environment."""

    kind = "stderr"

    def __init__(self, format: str) -> None:
        super().__init__()
        self.format = format

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Write the lines now, on this thread."""
        stream = sys.stderr
        try:
            for sig in batch:
                if self.format == "json":
                    line = JsonFormat().encode(sig).decode()
                else:
                    line = TextFormat(colour=stream.isatty(), traceback=True).format(sig)
                stream.write(line + "\n")
            stream.flush()
        except Exception as exc:  # stderr closed or broken: nowhere to report, not our caller's
            warn("fallback", f"could not write to stderr: {exc!r}")

    async def write(self, batch: Sequence[Signal]) -> None:
        """As [`write_sync`][telemetry.sinks.Sink.write_sync]: the fallback writes before the call
        returns."""
        self.write_sync(batch)


def fallback_hub() -> Telemetry:
    """The stderr fallback, made on first use."""
    global _fallback
    if _fallback is None:
        hub = Telemetry({})  # never the handlers of TELEMETRY_CONFIG: stderr only
        hub.add_handler("stderr", _StderrSink(hub.env.format), sync=True)
        hub._serve_inline()
        _fallback = hub
    return _fallback


_registry.set_fallback(fallback_hub)
