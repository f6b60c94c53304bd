"""A daemon thread that owns one blocking output and writes what the event loop hands it.

For outputs where a write may block for as long as someone else decides (a terminal, or a pipe
that nobody reads), the write cannot run on the loop's thread. `WriterThread` is that
output's one writer: `WriterThread.write` hands it the bytes of a batch and waits (on the
loop, without blocking it) until they are written; the thread takes every batch handed over
since it last woke up and writes them with one call, so that several workers of a handler share
one wake-up and one system call.

Why not ``anyio.to_thread.run_sync`` per batch: a cancelled ``run_sync`` waits for its thread to
return, and a write into a full pipe may never return, so ``aclose(timeout=...)`` would not
return either. Here a waiter that is cancelled just stops waiting; the thread, a daemon, may stay
blocked in that write without holding up the loop, the hub's close or the interpreter's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable

__all__ = ["WriterThread"]

_STOP = None


class _Job:
    """Bytes to write and the future of the task that waits for them."""

    __slots__ = ("data", "done", "loop", "wanted")

    def __init__(self, data: bytes, done: asyncio.Future[None]) -> None:
        self.data = data
        self.done = done
        self.loop = done.get_loop()
        self.wanted = True
        """Cleared when the waiter gave up before the thread took the job: it is not written then,
        since the handler has counted it as dropped."""


class WriterThread:
    """Writes bytes with ``emit`` (a blocking call) in a daemon thread named ``name``.

    The thread starts at the first write. ``emit`` must write all it is given or raise.
    """

    def __init__(self, emit: Callable[[bytes], None], *, name: str) -> None:
        self._emit = emit
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def write(self, data: bytes) -> None:
        """Return once ``data`` is written; raise what ``emit`` raised.

        A cancelled wait withdraws the bytes unless the thread has already taken them (then
        they are written when the output accepts them)."""
        job = _Job(data, asyncio.get_running_loop().create_future())
        self._jobs.put(job)
        if self._thread is None:
            thread = threading.Thread(
                target=self._run, args=(self._jobs,), name=self._name, daemon=True
            )
            try:
                thread.start()
            except RuntimeError:
                # No new thread at interpreter shutdown (Python 3.12+, from atexit): the job
                # is taken back and written here, where nothing else waits for the loop.
                self._jobs = queue.SimpleQueue()
                self._emit(data)
                return
            self._thread = thread
        try:
            await job.done
        except asyncio.CancelledError:
            job.wanted = False
            raise

    def stop(self) -> None:
        """Let the thread end once what it was handed is written; never waits for it."""
        if self._thread is not None:
            self._jobs.put(_STOP)
            # A later write starts a new thread with a queue of its own, never sharing one.
            self._jobs = queue.SimpleQueue()
            self._thread = None

    def after_fork(self) -> None:
        """In a forked child: the parent's thread does not exist here; start afresh."""
        self._jobs = queue.SimpleQueue()
        self._thread = None

    def _run(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            batch = [jobs.get()]
            # Everything handed over while the thread slept or wrote goes out in one call.
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(jobs.get_nowait())
            stop = _STOP in batch
            todo = [job for job in batch if job is not None and job.wanted]
            if todo:
                error: BaseException | None = None
                try:
                    self._emit(b"".join([job.data for job in todo]))
                except Exception as exc:
                    error = exc
                for job in todo:
                    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                        job.loop.call_soon_threadsafe(_settle, job.done, error)
            if stop:
                return


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the waiter was cancelled
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
