"""A sink for the terminal: readable and coloured on a TTY, JSON lines when piped.

A terminal or a pipe can take as long as it likes to accept a write (a paused terminal, a pipe
whose reader is stuck), so batches are written by the sink's own daemon thread
(`WriterThread`), never on the event loop; encoding happens on
the loop, a slice per step (`telemetry.sinks._encode`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from typing import IO, Literal, Never

from .._errors import ConfigError, SinkError
from .._signal import Signal
from ..formats import Format, JsonFormat, LogfmtFormat, TextFormat
from ._base import Sink
from ._encode import Slicer
from ._writer import WriterThread

__all__ = ["WRITE_SYNC_WAIT_S", "ConsoleSink"]

WRITE_SYNC_WAIT_S = 1.0
"""How long a synchronous write waits for the sink's thread to finish a write of its own."""

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
    ``TELEMETRY_FORMAT`` names a format. ``NO_COLOR`` and ``FORCE_COLOR`` are honoured. In
    text, a signal that carries an exception is followed by its traceback, indented. Batches
    are written by the sink's own thread, one call for all the batches waiting, so a stalled
    terminal or pipe never stalls the event loop, and ``aclose(timeout=...)`` returns even
    while a write is stuck.

    Args:
        stream: The text stream written to; ``None`` looks ``sys.stderr`` up at each write
            (so a test's or a framework's replacement is used).
        format: ``"auto"`` (text on a terminal, JSON lines elsewhere), ``"text"``, ``"json"``
            or ``"logfmt"``.
        **unknown: No other option is taken: one raises a
            [`ConfigError`][telemetry.ConfigError] naming the options there are.

    Raises:
        ConfigError: ``format`` is not one of those.
    """

    kind = "console"

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        format: ConsoleFormat = "auto",
        **unknown: Never,
    ) -> None:
        super().__init__()
        self._reject_unknown(unknown)
        if format not in _CONSOLE_FORMATS:
            raise ConfigError.choice("format", format, _CONSOLE_FORMATS)
        self._stream = stream
        self.format_name = format
        self._format: Format | None = None
        self._slicer = Slicer()
        self._writer = WriterThread(self._emit, name="aiotelemetry-console")
        # The writer thread and write_sync (synchronous mode, exit fallback) never interleave.
        self._emitting = threading.Lock()

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
                self._format = TextFormat(colour=True, traceback=True) if colour else JsonFormat()
            elif name == "text":
                self._format = TextFormat(colour=_wants_colour(self.stream), traceback=True)
            elif name == "logfmt":
                self._format = LogfmtFormat()
            else:
                self._format = JsonFormat()
        return self._format

    async def write(self, batch: Sequence[Signal]) -> None:
        """Encode the batch on the loop (a slice per step), then wait, without blocking the
        loop, until the sink's thread has written it.

        Args:
            batch: The signals to write, in order.
        """
        fmt = self._choose()
        data = await self._slicer.encode(fmt, batch)
        self.note_repaired(fmt)
        await self._writer.write(data)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Encode and write the batch on the calling thread.

        Args:
            batch: The signals to write, in order.

        Raises:
            SinkError: The sink's thread has been stuck in a write for ``WRITE_SYNC_WAIT_S``
                seconds (the exit fallback then counts the batch as dropped instead of hanging
                the exit).
        """
        fmt = self._choose()
        data = fmt.encode_batch(batch)
        self.note_repaired(fmt)
        if not self._emitting.acquire(timeout=WRITE_SYNC_WAIT_S):
            raise SinkError("console stream does not accept writes (a stalled pipe?)")
        try:
            self._emit_locked(data)
        finally:
            self._emitting.release()

    def _emit(self, data: bytes) -> None:
        """The writer thread's call: every batch handed over since it last woke up."""
        with self._emitting:
            self.counters["thread_writes"] += 1
            self._emit_locked(data)

    def _emit_locked(self, data: bytes) -> None:
        stream = self.stream
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            stream.flush()  # what the application printed before comes first
            buffer.write(data)
            buffer.flush()
        else:
            stream.write(data.decode("utf-8", "replace"))
            stream.flush()

    async def _aclose(self) -> None:
        # Not waited for: a thread stuck in a write to a stalled pipe must not hold up close.
        self._writer.stop()

    def close_sync(self) -> None:
        """Let the writer thread end (exit fallback); the stream itself is not ours to close."""
        self.state = "closed"
        self._writer.stop()

    def after_fork(self) -> None:
        """In a forked child: a fresh lock and writer thread (the parent's are not here)."""
        self._emitting = threading.Lock()
        self._writer.after_fork()
        super().after_fork()
