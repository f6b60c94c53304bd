"""A sink for the terminal: readable and coloured on a TTY, JSON lines when piped."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Literal

import anyio.to_thread

from .._errors import ConfigError
from .._signal import Signal
from ..formats import Format, JsonFormat, LogfmtFormat, TextFormat
from ._base import Sink

__all__ = ["ConsoleSink"]

ConsoleFormat = Literal["auto", "text", "json", "logfmt"]
_CONSOLE_FORMATS = ("auto", "json", "logfmt", "text")


def _wants_colour(stream: IO[str]) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ConsoleSink(Sink):
    """Write signals to ``stream`` (default: ``sys.stderr``).

    ``format="auto"`` (the default) writes coloured text when the stream is a terminal and JSON
    lines when it is not (a pipe, a file, a container log collector), unless
    ``TELEMETRY_FORMAT`` names a format. ``NO_COLOR`` and ``FORCE_COLOR`` are honoured. Each
    batch is written with one call in a worker thread, so a stalled terminal or pipe never
    stalls the event loop.
    """

    kind = "console"

    def __init__(self, stream: IO[str] | None = None, *, format: ConsoleFormat = "auto") -> None:
        super().__init__()
        if format not in _CONSOLE_FORMATS:
            raise ConfigError.choice("format", format, _CONSOLE_FORMATS)
        self._stream = stream
        self.format_name = format
        self._format: Format | None = None

    @property
    def stream(self) -> IO[str]:
        """The stream written to; ``sys.stderr`` is looked up at write time when none was given."""
        return self._stream if self._stream is not None else sys.stderr

    def _choose(self) -> Format:
        if self._format is None:
            name: str = self.format_name
            if name == "auto":
                name = os.environ.get("TELEMETRY_FORMAT", "auto").strip().lower() or "auto"
                if name not in _CONSOLE_FORMATS:
                    raise ConfigError.choice("TELEMETRY_FORMAT", name, _CONSOLE_FORMATS)
            if name == "auto":
                colour = _wants_colour(self.stream)
                self._format = TextFormat(colour=True) if colour else JsonFormat()
            elif name == "text":
                self._format = TextFormat(colour=_wants_colour(self.stream))
            elif name == "logfmt":
                self._format = LogfmtFormat()
            else:
                self._format = JsonFormat()
        return self._format

    async def write(self, batch: Sequence[Signal]) -> None:
        """Encode the batch and write it in one call, off the event loop."""
        data = self._choose().encode_batch(batch)
        await anyio.to_thread.run_sync(self._emit, data)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Encode and write the batch on the calling thread."""
        self._emit(self._choose().encode_batch(batch))

    def _emit(self, data: bytes) -> None:
        stream = self.stream
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            stream.flush()
            buffer.write(data)
            buffer.flush()
        else:
            stream.write(data.decode("utf-8", "replace"))
            stream.flush()
