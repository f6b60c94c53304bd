"""Following a file as it grows, across rotations: the ``--follow`` of ``tail``.

A `FollowedFile` is polled: each `poll` reads what was appended
since the last one and returns the complete lines as records, keeping a line whose end has not
arrived yet for the next poll (a writer may be half-way through it). When the path names a
different file than the one open (the file sink rotated it: renamed it away and started a new
one), the old file is read to its end first, then the new one is opened and read from its
start, so nothing written around the rotation is missed. A file that shrinks was truncated in
place and is read again from its start. A path that does not exist (yet, or for a moment
during a rotation) is simply tried again at the next poll.
"""

from __future__ import annotations

import os
from pathlib import Path

from .reader import LineDecoder, Record

__all__ = ["DEFAULT_POLL_INTERVAL_S", "FollowedFile"]

DEFAULT_POLL_INTERVAL_S = 0.25
"""How often ``tail --follow`` looks for new lines."""


class FollowedFile:
    """One plain (not compressed) file followed by polling."""

    def __init__(self, path: str | Path, decoder: LineDecoder | None = None) -> None:
        self.path = Path(path)
        self.name = str(path)
        self._decoder = decoder or LineDecoder()
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._pos = 0
        self._lineno = 0
        self._partial = b""
        self.rotations = 0
        """How many times the path was found to name a new file."""
        self.truncations = 0
        """How many times the file was found truncated in place."""

    @property
    def is_open(self) -> bool:
        """Whether a file is open (the path existed at some poll)."""
        return self._fd is not None

    def _try_open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        st = os.fstat(fd)
        self._fd = fd
        self._ident = (st.st_dev, st.st_ino)
        self._pos = 0
        self._lineno = 0
        self._partial = b""
        return True

    def _read_available(self) -> list[Record]:
        assert self._fd is not None
        chunks = []
        while True:
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        if not chunks:
            return []
        data = b"".join(chunks)
        self._pos += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        out = []
        for line in lines:
            self._lineno += 1
            if line.strip():
                out.append(self._decoder.decode(line, file=self.name, lineno=self._lineno))
        return out

    def _end_partial(self) -> list[Record]:
        """The pending line will never be finished: it is a record of its own."""
        partial, self._partial = self._partial, b""
        if not partial.strip():
            return []
        return [
            self._decoder.decode(partial, file=self.name, lineno=self._lineno + 1, complete=False)
        ]

    def poll(self) -> list[Record]:
        """The records of the lines completed since the last poll."""
        if self._fd is None and not self._try_open():
            return []
        out = self._read_available()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return out  # renamed away and not yet replaced: keep reading the old one
        if (st.st_dev, st.st_ino) != self._ident:
            out += self._read_available()  # the last writes into the old file
            out += self._end_partial()
            self._close_fd()
            self.rotations += 1
            if self._try_open():
                out += self._read_available()
        elif st.st_size < self._pos:
            out += self._end_partial()
            assert self._fd is not None
            os.lseek(self._fd, 0, os.SEEK_SET)
            self._pos = 0
            self._lineno = 0
            self.truncations += 1
            out += self._read_available()
        return out

    def close(self) -> list[Record]:
        """Stop following; a pending unfinished line comes back as a ``truncated`` record."""
        out = self._end_partial()
        self._close_fd()
        return out

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
