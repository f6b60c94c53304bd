"""A sink that appends encoded signals to a file: one write per batch, rotation and retention.

Who does what, and on which thread (the measurements behind it are in ``docs/sinks/file.md``):

- the event loop encodes a batch a slice at a time (`telemetry.sinks._encode`), and
  decides, from numbers it already has (the size ``fstat`` reported after the last write, the
  clock, the next rotation boundary), whether something must happen before the write;
- the write itself is `AppendFile`'s: one ``O_APPEND`` write
  of the whole batch, then ``fstat`` to notice a deleted file (and ``lstat``, at most every
  `MOVE_CHECK_S`, a moved one). For a
  regular file, a batch of at most `LOOP_WRITE_MAX_BYTES` and no fsync per batch, it
  runs on the loop's thread: a copy into the page cache takes tens of microseconds, while a
  thread has to wait for the GIL whenever the loop is busy (up to the switch interval, 5 ms,
  twice per write), so that under a flood of calls it wrote next to nothing. A larger batch,
  a FIFO, an fsync per batch, or any write after one that took longer than
  `SLOW_WRITE_S` (the disk throttling its writers) goes to the sink's own daemon thread
  instead (`WriterThread`, one hand-over), until
  `SLOW_WRITE_BACKOFF_S` later a write on the loop is tried again; a write stuck in that
  thread (a FIFO nobody reads, a hung network mount) never holds up the close or the exit;
- an event (open, reopen after a move or a deletion, rotation) is one ``anyio.to_thread`` hop:
  rename, open, fsync, all together, once per event;
- compression and retention run on the `Housekeeper`'s
  own thread, one job per rotation, so that a slow gzip never holds up the writer.

A lock makes "check, rotate, write" one step for a batch, so a rotation never closes the file
under another worker's write. Failures raise [`SinkError`][telemetry.SinkError] inside the pipeline,
where the handler retries and counts them; the sink adds a rate-limited warning naming the cause and
the path, and says so again when writing resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Literal, Never

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

from .._errors import ClosedError, ConfigError, SinkError
from .._offload import off_loop
from .._signal import Signal
from .._warn import warn
from ..formats import FORMATS, Format, make_format
from ._append import MOVE_CHECK_S, AppendFile, fsync_dir
from ._base import Sink
from ._checks import check_choice
from ._encode import Slicer
from ._housekeeping import Housekeeper
from ._naming import PathTemplate, first_free
from ._rotation import Interval, next_boundary, parse_duration, parse_interval, parse_size
from ._writer import WriterThread

__all__ = [
    "DEFAULT_FILE_MODE",
    "LOOP_WRITE_MAX_BYTES",
    "MOVE_CHECK_S",
    "ROTATION_RETRY_S",
    "SLOW_WRITE_BACKOFF_MAX_S",
    "SLOW_WRITE_BACKOFF_S",
    "SLOW_WRITE_S",
    "FileSink",
]

DEFAULT_FILE_MODE = 0o640
ROTATION_RETRY_S = 5.0
"""After a rotation that failed (rename refused), writing goes on to the current file and the
rotation is tried again this many seconds later."""
LOOP_WRITE_MAX_BYTES = 1024 * 1024
"""Largest batch appended on the event loop's thread: 256 KiB go into the page cache in about 65 µs
(120 µs at the 99th percentile), 1 MiB in 0.3 ms (2.9 ms); larger batches are written in a
thread. Not less: a full default batch of ordinary lines passes 256 KiB."""
SLOW_WRITE_S = 0.005
"""An append on the loop that takes longer than this (the kernel throttling writers of a slow disk;
the loop's budget for one step) sends the following writes to a thread, when the thread slept in
the kernel meanwhile (see ``_sleeps``): a write that was only preempted (a busy machine) would not
be faster in a thread, and the hand-over would cost the loop a wait for the GIL per write."""
SLOW_WRITE_BACKOFF_S = 1.0
"""How long writes stay in a thread after a slow one; it doubles, up to the maximum, while the write
tried on the loop after it is slow again."""
SLOW_WRITE_BACKOFF_MAX_S = 60.0
FsyncPolicy = Literal["never", "batch", "close"]
_FSYNC = ("batch", "close", "never")
Compression = Literal["gzip"]
_COMPRESS = ("gzip",)
_MICROSECOND = 1e-6
_RESUME_MAX = 8
"""Batches cut short by a failed write remembered for their retries (see FileSink._resume)."""
_RUSAGE_THREAD: int | None = getattr(resource, "RUSAGE_THREAD", None) if resource else None
"""``getrusage``'s per-thread counts (Linux), where there are."""


def _thread_sleeps() -> int:
    """How many times this thread has waited in the kernel (voluntary context switches: a
    write blocked by a throttled disk, a lock). A thread preempted by the scheduler does not
    count: that is the machine being busy, not the disk."""
    return resource.getrusage(_RUSAGE_THREAD).ru_nvcsw  # type: ignore[arg-type]


_sleeps: Callable[[], int] = (
    _thread_sleeps if _RUSAGE_THREAD is not None else itertools.count().__next__
)
"""What a slow write is checked with (``SLOW_WRITE_S``): where the kernel cannot say, a number
that differs at each call, so that every slow write counts."""


def _check_file_mode(file_mode: object) -> None:
    if not isinstance(file_mode, int) or not 0 <= file_mode <= 0o7777:
        raise ConfigError("file_mode", f"must be a permission mode like 0o640, got {file_mode!r}")


class FileSink(Sink):
    """Append signals to ``path`` as JSON lines (or ``text`` / ``logfmt``).

    Parent folders are created on open. Each batch is one ``O_APPEND`` write, so lines from
    several processes sharing the file never interleave.

    Rotation by size splits a batch that does not fit at the last line that does, so no file is
    larger than ``rotate_bytes`` unless its first line alone is. The active file is always
    ``path``: the finished one is renamed with the rotation time
    (``app.20260810_171534_892341.jsonl``), unless ``path`` has ``{time}``, in which case a new
    name is started instead.

    A symbolic link at ``path`` is refused (at open, a [`ConfigError`][telemetry.ConfigError];
    put there later, the reopen fails and the signals are counted as ``sink_error``), and so is
    one at a file being compressed, unless ``follow_symlinks=True``: otherwise anyone who can
    write to the log folder could make the sink append to any file it may write.

    A file deleted is noticed after the next write and reopened, without losing the batch; a
    file moved away (logrotate) is noticed at the first write `MOVE_CHECK_S` (5 ms) or more
    after the last look, or at a flush, and the path reopened; the batches written meanwhile
    are safe in the moved file. Several processes may share one file and even rotate it: each
    notices the move and follows, but file sizes are then approximate; prefer ``{pid}`` or an
    external rotator.

    Args:
        path: The file. It may contain ``{time}`` (the time the file was started, with
            microseconds: ``session_{time}.jsonl`` gives
            ``session_20260810_171534_892341.jsonl``), ``{pid}`` and ``{host}``; with
            ``{pid}``, processes forked after the sink was made get their own file.
        format: ``"json"`` (one JSON object per line), ``"text"`` or ``"logfmt"``.
        file_mode: The permissions of new files.
        fsync: When data is forced to disk: ``"close"`` (what ``aclose()`` reported as
            written is on disk, directory entries included), ``"batch"`` (after every write)
            or ``"never"``.
        rotate_bytes: Start a new file when the next line would take the file past this size
            (``"100 MB"``, ``"1 GiB"`` or an int).
        rotate_every: Start a new file at each boundary of the clock: ``"30m"``, ``"1h"``,
            ``"1d"``, ``"1w"``. Both rotations may be given.
        utc: Whether ``rotate_every`` boundaries and the times in names are UTC rather than
            local.
        keep: How many finished files to keep (the newest); older ones are deleted.
        max_age: Delete finished files older than this (``"7d"``, seconds or a timedelta).
        compress: ``"gzip"`` compresses finished files.
        follow_symlinks: Whether a symbolic link at ``path`` (or at a file being compressed)
            is followed rather than refused.
        clock: Epoch seconds; drives boundaries, names and ages, so tests can move time.
        **unknown: No other option is taken: one raises a
            [`ConfigError`][telemetry.ConfigError] naming the options there are.

    Raises:
        ConfigError: An option has a value it does not take, or options contradict each
            other (``compress``, ``keep`` or ``max_age`` without finished files to act on).

    Attributes:
        path (Path): The file being written now (the template rendered at construction, again
            at open).
        follow_symlinks (bool): Whether a symbolic link at the log path is followed.
    """

    kind = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str = "json",
        file_mode: int = DEFAULT_FILE_MODE,
        fsync: FsyncPolicy = "close",
        rotate_bytes: int | str | None = None,
        rotate_every: str | None = None,
        utc: bool = False,
        keep: int | None = None,
        max_age: float | str | timedelta | None = None,
        compress: Compression | None = None,
        follow_symlinks: bool = False,
        clock: Callable[[], float] = time.time,
        **unknown: Never,
    ) -> None:
        super().__init__()
        self._reject_unknown(unknown)
        check_choice("format", format, FORMATS)
        check_choice("fsync", fsync, _FSYNC)
        _check_file_mode(file_mode)
        if compress is not None:
            check_choice("compress", compress, _COMPRESS)
        if not callable(clock):
            raise ConfigError("clock", f"must be a callable returning epoch seconds, got {clock!r}")
        self.template = PathTemplate(path)
        self.rotate_bytes = (
            None if rotate_bytes is None else parse_size(rotate_bytes, "rotate_bytes")
        )
        self.rotate_every: Interval | None = (
            None if rotate_every is None else parse_interval(rotate_every, "rotate_every")
        )
        self._retention(compress, keep, max_age)
        self.format: Format = make_format(format)
        self.file_mode = file_mode
        self.fsync = fsync
        self.utc = bool(utc)
        self.compress = compress
        self.follow_symlinks = bool(follow_symlinks)
        self._clock = clock
        self.path: Path = self.template.render(clock(), utc=self.utc)
        self._housekeeper = self._make_housekeeper()
        self._raw: AppendFile | None = None
        self._writer = WriterThread(self._write_in_thread, name="aiotelemetry-file")
        self._lock = asyncio.Lock()
        self._next_rotation = math.inf
        self._rotation_retry_at = 0.0  # time.monotonic(); rotations wait until then
        self._dir_dirty = False  # a file was created or renamed since the last directory fsync
        self._failures = 0  # failed writes in a row, to say when writing resumes
        self._slicer = Slicer()
        self._thread_until = 0.0  # time.monotonic(); writes go to a thread until then
        self._backoff = SLOW_WRITE_BACKOFF_S
        self._resume: dict[int, tuple[Sequence[Signal], bytes, int]] = {}
        """Batches whose write failed part way, by id: the batch, its bytes, and how many of them
        are in the file (the handler's retry goes on from there). One per worker at most while
        they retry; a batch given up on is forgotten after a few more."""

    def _make_housekeeper(self) -> Housekeeper:
        """The thread that compresses and deletes finished files, as the options say."""
        return Housekeeper(
            self.template,
            compress=self.compress is not None,
            keep=self.keep,
            max_age=self.max_age,
            fsync=self.fsync != "never",
            file_mode=self.file_mode,
            clock=self._clock,
            counters=self.counters,
            follow_symlinks=self.follow_symlinks,
        )

    def _retention(
        self, compress: str | None, keep: int | None, max_age: float | str | timedelta | None
    ) -> None:
        """Check and set ``keep`` and ``max_age``. Compression and retention act on finished
        files: they are refused when there are none (no rotation, no ``{time}`` in the path)."""
        rotates = self.rotate_bytes is not None or self.rotate_every is not None
        if compress is not None and not rotates:
            raise ConfigError(
                "compress", "needs rotate_bytes or rotate_every: only finished files are compressed"
            )
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
            raise ConfigError("keep", f"must be an integer >= 0 (files kept), got {keep!r}")
        self.keep = keep
        self.max_age = None if max_age is None else parse_duration(max_age, "max_age")
        for name, value in (("keep", keep), ("max_age", max_age)):
            if value is not None and not rotates and not self.template.has_time:
                raise ConfigError(
                    name,
                    "needs rotate_bytes, rotate_every or {time} in path: "
                    "only finished files are deleted",
                )

    # -- opening ------------------------------------------------------------------------------

    async def _open(self) -> None:
        # Rendered again now: a sink made before a fork opens in the child under the child's pid.
        self.path = self.template.render(self._clock(), utc=self.utc)
        finished = await off_loop(self._open_first)
        self._housekeeper.submit(finished, active=self.path, recover=True)

    def _open_first(self) -> Path | None:
        """Open the file (in a thread); a file left from an earlier period is rotated first."""
        finished = None
        try:
            if self.path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a directory", str(self.path))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.rotate_every is not None and not self.template.has_time:
                try:
                    finished = self._rotate_stale(self.rotate_every)
                except OSError as exc:  # appending to the old file loses nothing; say so
                    warn(
                        f"file-rotate:{self.path}",
                        f"file sink could not rotate {str(self.path)!r}, appending to it: {exc}",
                    )
            self._use(self._open_file(self.path))
        except IsADirectoryError:
            raise ConfigError(
                "path", f"must name a file, but {str(self.path)!r} is a directory"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP and not self.follow_symlinks:
                raise ConfigError(
                    "path",
                    f"must not be a symbolic link, but {str(self.path)!r} is one "
                    "(follow_symlinks=True writes through it)",
                ) from exc
            raise ConfigError(
                "path", f"must be a file that can be created and appended to: {exc}"
            ) from exc
        self._schedule(self._clock())
        return finished

    def _rotate_stale(self, every: Interval) -> Path | None:
        """Rename a file whose period ended before we started (named by its last write)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        if st.st_size == 0 or next_boundary(st.st_mtime, every, utc=self.utc) > self._clock():
            return None
        target = first_free(
            lambda n: self.template.rotated(self.path, st.st_mtime + n * _MICROSECOND, utc=self.utc)
        )
        os.rename(self.path, target)
        self._dir_dirty = True
        self.counters["rotations"] += 1
        return target

    def _open_file(self, path: Path) -> AppendFile:
        raw = AppendFile(
            str(path),
            self.file_mode,
            fsync_each=self.fsync == "batch",
            follow_symlinks=self.follow_symlinks,
        )
        self._dir_dirty = True
        return raw

    def _use(self, raw: AppendFile | None) -> None:
        # The file the loop, the writer thread and the exit fallback write to.
        self._raw = raw

    def _write_in_thread(self, data: bytes) -> None:
        """The writer thread's call (the lock is held by the write that handed ``data`` over)."""
        raw = self._raw
        if raw is None:
            raise FileNotFoundError(errno.ENOENT, "the file is not open", str(self.path))
        raw.write(data)

    def _schedule(self, now: float) -> None:
        if self.rotate_every is not None:
            self._next_rotation = next_boundary(now, self.rotate_every, utc=self.utc)

    # -- writing ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.state == "new":
            raise SinkError("file sink is not open")
        if self.state == "closed":
            raise ClosedError("file sink is closed")

    async def write(self, batch: Sequence[Signal]) -> None:
        """Encode the batch and append it (rotating or reopening first if due).

        One write for the batch, unless it would take the file past ``rotate_bytes``: then
        it is split at the last line that fits, and the rest goes to the next file. Returns
        once the batch is in the file (the page cache; on disk too with ``fsync="batch"``). A
        retry of a batch cut short by a failure starts where that write stopped, so no line is
        written twice.

        Args:
            batch: The signals to write, in order.

        Raises:
            SinkError: The batch could not be written (the handler retries and counts).
        """
        self._check_open()
        resume = self._resume.pop(id(batch), None)
        if resume is not None and resume[0] is batch:
            _, data, done = resume
        else:
            data = await self._slicer.encode(self.format, batch)
            self.note_repaired(self.format)
            done = 0
        async with self._lock:
            try:
                while done < len(data):
                    end = self._piece_end(data, done)
                    await self._write_piece(data[done:end] if done or end < len(data) else data)
                    done = end
            except OSError as exc:
                if done:
                    if len(self._resume) >= _RESUME_MAX:
                        del self._resume[next(iter(self._resume))]
                    self._resume[id(batch)] = (batch, data, done)
                raise self._failed(exc) from exc
            if self._failures:
                self._resumed()

    async def _write_piece(self, data: bytes) -> None:
        if self._event_due(len(data)):
            await off_loop(self._handle_event, len(data))
        if self._on_loop(len(data)):
            self._append_here(data)
        else:
            self.counters["thread_writes"] += 1
            await self._writer.write(data)

    def _piece_end(self, data: bytes, start: int) -> int:
        """Where the next write of ``data`` from ``start`` ends: at its end, unless that
        would take the file past ``rotate_bytes``. Then at the end of the last line that
        fits in the file; when not one fits, the file is rotated first (`_event_due`)
        and the piece is the lines that fit in a new file; a line longer than the limit goes
        alone. So no file passes the limit by more than one line (the first line written
        to it)."""
        limit, raw, end = self.rotate_bytes, self._raw, len(data)
        if limit is None or raw is None or not raw.regular or raw.size + end - start <= limit:
            return end
        room = limit - raw.size
        if room > 0 and (cut := data.rfind(b"\n", start, start + room) + 1) > start:
            return cut
        if (cut := data.rfind(b"\n", start, start + limit) + 1) > start:
            return cut
        return data.find(b"\n", start) + 1 or end

    def _on_loop(self, size: int) -> bool:
        """Whether a write of ``size`` bytes may run on the loop's thread (see the module)."""
        raw = self._raw
        return (
            raw is not None
            and raw.regular
            and not raw.fsync_each
            and size <= LOOP_WRITE_MAX_BYTES
            and time.monotonic() >= self._thread_until
        )

    def _append_here(self, data: bytes) -> None:
        """Append on this thread, timed: a slow write sends the next ones to a thread."""
        raw = self._raw
        assert raw is not None
        self.counters["loop_writes"] += 1
        t0 = time.monotonic()
        slept = _sleeps()
        try:
            raw.write(data)
        finally:
            took = time.monotonic() - t0
            if took > SLOW_WRITE_S and _sleeps() != slept:
                self.counters["slow_writes"] += 1
                self._thread_until = t0 + took + self._backoff
                self._backoff = min(self._backoff * 2, SLOW_WRITE_BACKOFF_MAX_S)
            else:
                self._backoff = SLOW_WRITE_BACKOFF_S

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Encode and append the batch on the calling thread (exit fallback, sync mode), split
        at ``rotate_bytes`` as [`write`][telemetry.sinks.FileSink.write] does.

        Args:
            batch: The signals to write, in order.
        """
        self._check_open()
        data = self.format.encode_batch(batch)  # no loop to yield to: in one go
        self.note_repaired(self.format)
        done = 0
        try:
            while done < len(data):
                end = self._piece_end(data, done)
                piece = data[done:end] if done or end < len(data) else data
                if self._event_due(len(piece)):
                    self._handle_event(len(piece))
                assert self._raw is not None
                self._raw.write(piece)
                done = end
        except OSError as exc:
            raise self._failed(exc) from exc
        if self._failures:
            self._resumed()

    def _event_due(self, size: int) -> bool:
        """Whether the next write needs a reopen or a rotation first; on the loop, no I/O."""
        raw = self._raw
        if raw is None or raw.moved or raw.gone:
            return True
        if not raw.regular or time.monotonic() < self._rotation_retry_at:
            return False
        if self._clock() >= self._next_rotation:
            return True
        limit = self.rotate_bytes
        return limit is not None and raw.size > 0 and raw.size + size > limit

    def _handle_event(self, size: int) -> None:
        """Reopen and / or rotate, in a thread, before a write of ``size`` bytes."""
        raw = self._raw
        if raw is None or raw.moved or raw.gone:
            raw = self._reopen()
        if not raw.regular or time.monotonic() < self._rotation_retry_at:
            return
        now = self._clock()
        limit = self.rotate_bytes
        time_due = now >= self._next_rotation
        size_due = limit is not None and raw.size > 0 and raw.size + size > limit
        if time_due and raw.size == 0:
            self._schedule(now)  # nothing to rotate in this period
        elif time_due or size_due:
            self._rotate(now)

    def _reopen(self) -> AppendFile:
        old = self._raw
        self._use(None)
        if old is not None:
            self._close_file(old)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = self._open_file(self.path)
        self._use(raw)
        self.counters["reopened"] += 1
        return raw

    def _rotate(self, now: float) -> None:
        old = self._raw
        assert old is not None
        if not old.names_this_file():  # another process rotated it, or logrotate moved it
            self._reopen()
            self._schedule(now)
            return
        try:
            if self.template.has_time:
                finished = self.path
                path = first_free(
                    lambda n: self.template.render(now + n * _MICROSECOND, utc=self.utc), finished
                )
                new = self._open_file(path)
                self.path = path
            else:
                finished = first_free(
                    lambda n: self.template.rotated(self.path, now + n * _MICROSECOND, utc=self.utc)
                )
                os.rename(self.path, finished)
                new = None
        except OSError as exc:
            self.counters["rotation_errors"] += 1
            self._rotation_retry_at = time.monotonic() + ROTATION_RETRY_S
            warn(
                f"file-rotate:{self.path}",
                f"file sink could not rotate {str(self.path)!r}, writing on to it: {exc}",
            )
            return
        self._use(None)
        # From here the finished file holds everything written so far: a crash before the new
        # file is open loses nothing, and an open that fails leaves the next write to reopen.
        # Making it durable (fsync of the file, then of the folder for the rename) is the
        # housekeeper's first job, so that a rotation does not hold up the writes that follow;
        # aclose() waits for it.
        self.counters["rotations"] += 1
        self._schedule(now)
        self._housekeeper.submit(finished, active=self.path, first=lambda: self._retire(old))
        self._use(new if new is not None else self._open_file(self.path))

    def _retire(self, old: AppendFile) -> None:
        """Close a finished file; fsync it and its folder unless ``fsync="never"``."""
        self._close_file(old)
        if self.fsync != "never":
            try:
                fsync_dir(Path(old.path).parent)
            except OSError as exc:
                warn(f"file-fsync:{old.path}", f"file sink could not fsync the folder: {exc}")

    def _failed(self, exc: OSError) -> SinkError:
        self._failures += 1
        self.counters["write_errors"] += 1
        code = errno.errorcode.get(exc.errno or 0, "error")
        warn(
            f"file-error:{self.path}:{code}",
            f"file sink cannot write to {str(self.path)!r} ({code}: {exc.strerror or exc}); "
            "retrying, and counting signals as dropped (sink_error) while it lasts",
        )
        return SinkError(f"cannot write to {str(self.path)!r}: {exc.strerror or exc}")

    def _resumed(self) -> None:
        warn(
            f"file-resumed:{self.path}",
            f"file sink writes to {str(self.path)!r} again after {self._failures} failed attempts",
        )
        self._failures = 0

    # -- durability and closing ---------------------------------------------------------------

    async def flush(self) -> None:
        """Force written data to disk (``fsync``, and the folder's entries) unless ``"never"``;
        and look at once whether the file was moved away, so that what is written after the
        flush goes to the path."""
        if self._raw is not None:
            self._raw.check_moved()  # one lstat, as after a write
        if self.fsync == "never" or self._raw is None:
            return
        async with self._lock:
            await off_loop(self._sync)

    def _sync(self) -> None:
        raw = self._raw
        if raw is not None and not raw.closed and raw.regular:  # a FIFO cannot be synced
            os.fsync(raw.fileno())
        if self._dir_dirty:
            self._dir_dirty = False
            fsync_dir(self.path.parent)

    def _close_file(self, raw: AppendFile) -> None:
        """Close a file we are done with; fsync it first unless it was deleted or "never"."""
        try:
            if self.fsync != "never" and not raw.gone and raw.regular:
                os.fsync(raw.fileno())
        except OSError as exc:
            warn(f"file-fsync:{raw.path}", f"file sink could not fsync {raw.path!r}: {exc}")
        finally:
            raw.close()

    def _close_now(self) -> None:
        raw = self._raw
        self._use(None)
        if raw is not None:
            self._close_file(raw)
        if self.fsync != "never" and self._dir_dirty:
            self._dir_dirty = False
            with contextlib.suppress(OSError):
                fsync_dir(self.path.parent)

    async def _aclose(self) -> None:
        self._writer.stop()
        async with self._lock:
            await off_loop(self._close_now)
        await self._housekeeper.wait()
        await off_loop(self._housekeeper.shutdown)

    def close_sync(self) -> None:
        """Close the file without a loop (exit fallback)."""
        self.state = "closed"
        self._close_now()
        self._housekeeper.shutdown()

    def _after_fork(self) -> None:
        # Close the child's copy of the descriptor only: the parent's stays open.
        raw = self._raw
        self._use(None)
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.close()

    def after_fork(self) -> None:
        """In a forked child: fresh lock and housekeeping thread; the child's hub reopens the
        file, and a ``{pid}`` path then names the child's own file."""
        self._lock = asyncio.Lock()
        self._writer.after_fork()
        self._housekeeper.after_fork()
        if self.template.has_pid:
            self.path = self.template.render(self._clock(), utc=self.utc)
        super().after_fork()
