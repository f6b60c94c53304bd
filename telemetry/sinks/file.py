"""A sink that appends encoded signals to a file, one write per batch."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import anyio.to_thread
from aiofiles.threadpool.binary import AsyncFileIO

from .._errors import ConfigError, SinkError
from .._signal import Signal
from ..formats import FORMATS, Format, make_format
from ._base import Sink

__all__ = ["DEFAULT_FILE_MODE", "FileSink"]

DEFAULT_FILE_MODE = 0o640
FsyncPolicy = Literal["never", "batch", "close"]
_FSYNC = ("batch", "close", "never")


class FileSink(Sink):
    """Append signals to ``path`` as JSON lines (or ``text`` / ``logfmt``).

    Parent folders are created on open; new files get ``file_mode`` (0o640). Each batch is one
    ``O_APPEND`` write of the whole encoded batch through aiofiles, so lines from several
    processes sharing the file never interleave. ``fsync`` says when data is forced to disk:
    ``"close"`` (default: what ``aclose()`` reported as written is on disk), ``"batch"`` (after
    every write) or ``"never"``.
    """

    kind = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str = "json",
        file_mode: int = DEFAULT_FILE_MODE,
        fsync: FsyncPolicy = "close",
    ) -> None:
        super().__init__()
        if format not in FORMATS:
            raise ConfigError.choice("format", format, FORMATS)
        if fsync not in _FSYNC:
            raise ConfigError.choice("fsync", fsync, _FSYNC)
        if not 0 <= file_mode <= 0o7777:
            raise ConfigError(
                "file_mode", f"must be a permission mode like 0o640, got {file_mode!r}"
            )
        self.path = Path(path)
        self.format: Format = make_format(format)
        self.file_mode = file_mode
        self.fsync = fsync
        self._raw: io.FileIO | None = None
        self._file: AsyncFileIO | None = None

    async def _open(self) -> None:
        try:
            raw = await anyio.to_thread.run_sync(self._open_raw)
        except IsADirectoryError:
            raise ConfigError(
                "path", f"must name a file, but {str(self.path)!r} is a directory"
            ) from None
        except OSError as exc:
            raise ConfigError(
                "path", f"must be a file that can be created and appended to: {exc}"
            ) from exc
        # aiofiles does the per-batch writes in the loop's executor; the raw FileIO is kept so
        # that the exit fallback can write and close the very same file without a loop.
        self._raw = raw
        self._file = AsyncFileIO(raw, loop=None, executor=None)

    def _open_raw(self) -> io.FileIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return io.FileIO(self.path, "ab", opener=self._opener)

    def _opener(self, path: str, flags: int) -> int:
        return os.open(path, flags | os.O_APPEND, self.file_mode)

    async def write(self, batch: Sequence[Signal]) -> None:
        """Encode the batch and append it with one write (and an fsync under ``"batch"``)."""
        assert self._file is not None, "write() before open()"
        data = self.format.encode_batch(batch)
        if self.fsync == "batch":
            await anyio.to_thread.run_sync(self._write_fd, data, True)
        else:
            written = await self._file.write(data)
            if written is not None and written < len(data):
                await anyio.to_thread.run_sync(self._write_fd, data[written:], False)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Encode and append the batch on the calling thread (exit fallback, sync mode)."""
        if self._file is None:
            raise SinkError("file sink is not open")
        self._write_fd(self.format.encode_batch(batch), self.fsync == "batch")

    def _write_fd(self, data: bytes, sync: bool) -> None:
        assert self._file is not None
        fd = self._file.fileno()
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if sync:
            os.fsync(fd)

    async def flush(self) -> None:
        """Force written data to disk (``fsync``) unless ``fsync="never"``."""
        if self._file is not None and self.fsync != "never":
            await anyio.to_thread.run_sync(os.fsync, self._file.fileno())

    async def _aclose(self) -> None:
        file, self._file, self._raw = self._file, None, None
        if file is not None:
            if self.fsync != "never":
                await anyio.to_thread.run_sync(os.fsync, file.fileno())
            await file.close()

    def _after_fork(self) -> None:
        # The child's copy of the descriptor: closing it leaves the parent's open.
        raw, self._raw, self._file = self._raw, None, None
        if raw is not None:
            raw.close()

    def close_sync(self) -> None:
        """Close the file without a loop (exit fallback)."""
        raw, self._raw, self._file = self._raw, None, None
        self.state = "closed"
        if raw is not None:
            if self.fsync != "never":
                os.fsync(raw.fileno())
            raw.close()
