"""An append-only file that writes whole batches and notices when it is moved or deleted.

`AppendFile` is an `io.FileIO` whose ``write`` is the file sink's whole per-batch
job, so that a writer thread runs all of it in one hand-over:

- the batch goes out with one ``write(2)`` on an ``O_APPEND`` descriptor, so batches from
  several processes sharing the file never interleave (see below);
- a batch cut short by an error (disk full) is taken back, so the file never keeps half a
  line: the handler retries the whole batch;
- ``fsync`` after the write when asked (``fsync="batch"``);
- then ``fstat``: if the file was deleted (its link count is 0) the batch went nowhere, and
  ``write`` raises so that it is retried into a new file; the size it reports is the one
  rotation by size reads, exact after every write;
- and, at most once every `MOVE_CHECK_S` (by the file's clock), ``lstat`` of the path: if it
  now names another file or none (``logrotate`` moved it), the batches are safe in the moved
  file and `AppendFile.moved` tells the sink to reopen before the next one, as
  ``logging.handlers.WatchedFileHandler`` does. A move is noticed at the first write after
  the interval, or at once by `AppendFile.check_moved` (the sink's flush calls it), so a
  burst of batches costs one ``lstat`` per interval rather than one per batch; what lands in
  the moved file meanwhile is as safe as the batch that noticed the move.

Why batches are not split: on Linux local filesystems (ext4, xfs, btrfs, tmpfs) a write to an
``O_APPEND`` file takes the inode lock for its whole length, so it lands in one piece whatever
its size; only a short write (disk full, file size limit) can cut it, and that is taken back
here. Pipes have ``PIPE_BUF``, regular files do not. Over NFS ``O_APPEND`` is not atomic at all
(open(2)), and splitting would not help there either.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["MOVE_CHECK_S", "AppendFile", "fsync_dir"]

MOVE_CHECK_S = 0.005
"""Longest time between two checks that the path still names the file written (an ``lstat``
after a write): at a flood of small batches, one per interval instead of one per batch. Read
when a file is opened."""


class AppendFile(io.FileIO):
    """``path`` opened for appending (created with ``file_mode`` if missing).

    A symbolic link at ``path`` is refused (``OSError`` ``ELOOP``) unless ``follow_symlinks``:
    whoever can put a link in the log folder could otherwise make the sink append to any file
    it may write. Moves are then judged by the link itself (``lstat``), so a link put in place
    of the file later is noticed, and refused at the reopen.

    Whether the path still names the file is looked at after a write at most every
    ``check_every`` seconds of ``clock`` (by default `MOVE_CHECK_S` and ``time.monotonic``),
    and at once by `check_moved`.
    """

    def __init__(
        self,
        path: str,
        file_mode: int,
        *,
        fsync_each: bool = False,
        follow_symlinks: bool = False,
        check_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        nofollow = 0 if follow_symlinks else os.O_NOFOLLOW

        def opener(p: str, flags: int) -> int:
            return os.open(p, flags | os.O_APPEND | os.O_CLOEXEC | nofollow, file_mode)

        # "a+" (read/write) so that a torn batch can be read back before it is taken back.
        super().__init__(path, "a+b", opener=opener)
        st = os.fstat(self.fileno())
        self.path = path
        self.fsync_each = fsync_each
        self.follow_symlinks = follow_symlinks
        self.ident = (st.st_dev, st.st_ino)
        self.regular = stat.S_ISREG(st.st_mode)
        """Whether this is a regular file (rotation and moves mean nothing for a FIFO)."""
        self.size = st.st_size
        """The file's size after the last write, as ``fstat`` saw it (other writers included)."""
        self.mtime = st.st_mtime
        self.moved = False
        """The path no longer names this file: reopen before the next write."""
        self.gone = False
        """The file was deleted: the last batch was lost and must be written again elsewhere."""
        self._clock = clock
        self._check_every = MOVE_CHECK_S if check_every is None else check_every
        # Just opened by its path: the next look is due one interval from now.
        self._check_at = clock() + self._check_every

    def write(self, data: ReadableBuffer, /) -> int:
        """Append all of ``data`` or nothing of it; raise ``OSError`` on failure."""
        view = memoryview(data).cast("B")
        fd = self.fileno()
        done = 0
        try:
            while done < len(view):
                done += os.write(fd, view[done:])
            if self.fsync_each and self.regular:  # a FIFO cannot be synced
                os.fsync(fd)
        except OSError:
            if done:
                self._take_back(view[:done])
            raise
        self._observe()
        return done

    def _take_back(self, written: memoryview) -> None:
        """Truncate away a torn batch, if the file still ends with exactly what we wrote.

        The check matters when other processes append to the same file; when the disk is full
        they cannot append either, so the file cannot change between the read and the cut.
        """
        fd = self.fileno()
        try:
            end = os.fstat(fd).st_size
            start = end - len(written)
            if start >= 0 and os.pread(fd, len(written), start) == written:
                os.ftruncate(fd, start)
        except OSError:
            pass  # a torn line stays; the write's own error is the one to report

    def _observe(self) -> None:
        st = os.fstat(self.fileno())
        self.size = st.st_size
        self.mtime = st.st_mtime
        if not self.regular:
            return
        if st.st_nlink == 0:
            self.gone = True
            raise FileNotFoundError(
                errno.ENOENT, "the file was deleted while being written; reopening", self.path
            )
        if self.moved:
            return
        now = self._clock()
        if now >= self._check_at:
            self._check_at = now + self._check_every
            self.moved = not self.names_this_file()

    def check_moved(self) -> bool:
        """Look now whether the path still names this file (not waiting for the interval);
        set and return `moved`."""
        if self.regular and not self.moved and not self.closed:
            self._check_at = self._clock() + self._check_every
            self.moved = not self.names_this_file()
        return self.moved

    def names_this_file(self) -> bool:
        """Whether the path still names this file (a fresh ``stat``)."""
        try:
            now = os.stat(self.path) if self.follow_symlinks else os.lstat(self.path)
        except FileNotFoundError:
            return False
        return (now.st_dev, now.st_ino) == self.ident


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make the directory's entries (a created or renamed file) durable, as fsync(2) advises."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
