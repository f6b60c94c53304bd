"""What happens to finished files: gzip, then retention, in a thread of their own.

A rotation hands the finished file to the `Housekeeper`, which runs one job per event on
a single worker thread (so jobs never overlap and never hold up the writer): compress the
files waiting for it, then scan the folder once and delete what retention no longer keeps.

A compressed file is written as ``NAME.gz.PID.tmp``, made durable, given the original's times
and only then renamed to ``NAME.gz``; the original is removed last. A crash at any point
leaves either the original or a complete ``.gz`` (plus, at worst, a ``.tmp`` that no reader
mistakes for a finished file): the next process to open the sink removes temporaries whose
process is gone and compresses their originals again.

Retention counts this template's finished files (the active one excluded): ``keep`` leaves the
newest N by modification time, ``max_age`` deletes those not modified for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .._warn import warn
from ._append import fsync_dir
from ._naming import GZ_SUFFIX, PathTemplate

__all__ = ["GZIP_LEVEL", "Housekeeper", "expired", "gzip_file"]

GZIP_LEVEL = 6
"""zlib's own default: most of level 9's ratio at a fraction of its time."""
_CHUNK = 1 << 20


def gzip_file(
    src: Path,
    *,
    fsync: bool,
    file_mode: int = 0o640,
    level: int = GZIP_LEVEL,
    follow_symlinks: bool = False,
) -> Path:
    """Compress ``src`` to ``src.gz`` through a temporary name; remove ``src``; return the .gz.

    The .gz is created with ``file_mode``, like the file it replaces. A symbolic link at
    ``src`` or at the temporary name is not followed (``OSError`` ``ELOOP``) unless
    ``follow_symlinks``.
    """
    dst = src.with_name(src.name + GZ_SUFFIX)
    tmp = src.with_name(f"{src.name}{GZ_SUFFIX}.{os.getpid()}.tmp")
    nofollow = 0 if follow_symlinks else os.O_NOFOLLOW

    def opener(path: str, flags: int) -> int:
        return os.open(path, flags | os.O_CLOEXEC | nofollow, file_mode)

    try:
        with open(src, "rb", opener=opener) as fin, open(tmp, "wb", opener=opener) as fout:
            st = os.fstat(fin.fileno())
            with gzip.GzipFile(
                filename=src.name, mode="wb", compresslevel=level, fileobj=fout, mtime=st.st_mtime
            ) as gz:
                shutil.copyfileobj(fin, gz, _CHUNK)
            fout.flush()
            if fsync:
                os.fsync(fout.fileno())
        # The .gz keeps the original's modification time: retention orders by it.
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_dir(dst.parent)
    os.unlink(src)
    return dst


def expired(
    entries: Iterable[tuple[int, str]], *, keep: int | None, max_age: float | None, now: float
) -> list[str]:
    """Names to delete among ``(mtime_ns, name)`` entries: beyond the newest ``keep``, or not
    modified for more than ``max_age`` seconds before ``now``."""
    ordered = sorted(entries, reverse=True)
    doomed: dict[str, None] = {}
    if keep is not None:
        doomed.update((name, None) for _, name in ordered[keep:])
    if max_age is not None:
        cutoff_ns = int((now - max_age) * 1e9)
        doomed.update((name, None) for mtime, name in ordered if mtime < cutoff_ns)
    return list(doomed)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a temporary of ours at open time is from an earlier process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Housekeeper:
    """Runs compression and retention for one file sink, one job at a time, off the loop.

    ``submit`` is thread-safe (the sink calls it from its rotation hop); ``wait`` lets
    ``aclose()`` return only when every job is done. Counters go to the sink's ``counters``:
    ``compressed``, ``compress_errors``, ``deleted``, ``delete_errors``.
    """

    def __init__(
        self,
        template: PathTemplate,
        *,
        compress: bool,
        keep: int | None,
        max_age: float | None,
        fsync: bool,
        file_mode: int,
        clock: Callable[[], float],
        counters: Counter[str],
        follow_symlinks: bool = False,
    ) -> None:
        self.template = template
        self.follow_symlinks = follow_symlinks
        self.file_mode = file_mode
        self.compress = compress
        self.keep = keep
        self.max_age = max_age
        self.fsync = fsync
        self.clock = clock
        self.counters = counters
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._last: Future[None] | None = None
        self._waiting: list[Path] = []  # files to compress; touched by the worker thread only

    @property
    def needed(self) -> bool:
        """Whether there is anything to do at all."""
        return self.compress or self.keep is not None or self.max_age is not None

    def submit(
        self,
        finished: Path | None,
        *,
        active: Path,
        recover: bool = False,
        first: Callable[[], None] | None = None,
    ) -> None:
        """Queue a job: ``first()`` (the sink's own closing of the finished file), then compress
        ``finished`` (if compressing), then apply retention.

        ``recover`` (at open) first cleans up after a process that died mid-compression. When
        the job cannot be queued (the interpreter is exiting) ``first`` runs here and now.
        """
        if not self.needed and first is None:
            return
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="telemetry-file")
            try:
                self._last = self._executor.submit(self._job, finished, active, recover, first)
                return
            except RuntimeError:  # interpreter shutting down: the files stay as they are
                self.counters["housekeeping_skipped"] += 1
        if first is not None:
            first()

    async def wait(self) -> None:
        """Return once every job submitted so far has finished."""
        last = self._last
        if last is not None:
            await asyncio.wrap_future(last)

    def shutdown(self) -> None:
        """Finish the queued jobs and stop the worker thread (blocking)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def after_fork(self) -> None:
        """In a forked child the worker thread is gone: start afresh."""
        self._lock = threading.Lock()
        self._executor = None
        self._last = None
        self._waiting = []

    # -- in the worker thread -----------------------------------------------------------------

    def _job(
        self,
        finished: Path | None,
        active: Path,
        recover: bool,
        first: Callable[[], None] | None,
    ) -> None:
        try:
            if first is not None:
                first()
            if recover:
                self._recover(active)
            if finished is not None and self.compress:
                self._waiting.append(finished)
            if self._waiting:
                self._compress_waiting()
            if self.keep is not None or self.max_age is not None:
                self._retain(active)
        except Exception as exc:  # a bug here must not kill the worker thread silently
            warn(f"file-housekeeping:{active}", f"file sink housekeeping failed: {exc!r}")

    def _compress_waiting(self) -> None:
        still: list[Path] = []
        for path in self._waiting:
            try:
                gzip_file(
                    path,
                    fsync=self.fsync,
                    file_mode=self.file_mode,
                    follow_symlinks=self.follow_symlinks,
                )
            except FileNotFoundError:
                continue  # deleted meanwhile (retention, a person): nothing to compress
            except OSError as exc:
                self.counters["compress_errors"] += 1
                still.append(path)  # tried again at the next rotation
                warn(
                    f"file-gzip:{path.parent}",
                    f"file sink could not compress {str(path)!r}, keeping it as is: {exc}",
                )
            else:
                self.counters["compressed"] += 1
        self._waiting = still

    def _recover(self, active: Path) -> None:
        temp = self.template.temp_pattern(active)
        with contextlib.suppress(FileNotFoundError), os.scandir(active.parent) as it:
            stale = [
                (e.name, int(m.group(1))) for e in it if (m := temp.fullmatch(e.name)) is not None
            ]
        for name, pid in stale:
            if _pid_alive(pid):
                continue
            with contextlib.suppress(OSError):
                os.unlink(active.parent / name)
            original = active.parent / name[: -len(f"{GZ_SUFFIX}.{pid}.tmp")]
            if self.compress and original.exists():
                self._waiting.append(original)

    def _retain(self, active: Path) -> None:
        pattern = self.template.pattern(active)
        entries: list[tuple[int, str]] = []
        with contextlib.suppress(FileNotFoundError), os.scandir(active.parent) as it:
            for e in it:
                if e.name != active.name and pattern.fullmatch(e.name):
                    with contextlib.suppress(FileNotFoundError):
                        if e.is_file(follow_symlinks=False):
                            entries.append((e.stat(follow_symlinks=False).st_mtime_ns, e.name))
        for name in expired(entries, keep=self.keep, max_age=self.max_age, now=self.clock()):
            try:
                os.unlink(active.parent / name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.counters["delete_errors"] += 1
                warn(
                    f"file-retention:{active.parent}",
                    f"file sink could not delete {name!r}: {exc}",
                )
            else:
                self.counters["deleted"] += 1
