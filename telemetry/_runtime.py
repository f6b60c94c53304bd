"""A running hub's machinery: its loop, the task that hosts the workers, and closing handlers
within a deadline.

Shutdown order for one handler (``close_handler``): wait, within the deadline, for a sink that
is still opening; stop accepting (workers exit once the queue is empty); wait for the workers
within the deadline; past it, cancel them and count what is left as ``timeout``; flush and
close the sink. The workers live in a task group hosted by a task of their own, so that the
hub can be closed from any task (a lifespan handler, a signal handler, the test that opened it).

Every wait of a close is bounded, whatever a sink does. A worker stuck in a call that ignores
cancellation (``anyio.to_thread.run_sync`` into a write that never returns) is given
`ABANDON_GRACE_S` to unwind after it is cancelled, then abandoned: what it holds is
counted as ``timeout`` and nothing it does later counts. The sink's flush and close run in a
task of their own that the close waits for until the deadline (at least
`CLOSE_GRACE_S`), then leaves behind. The hosting task is waited for the same way.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ._handler import Handler
from ._warn import warn

__all__ = ["ABANDON_GRACE_S", "CLOSE_GRACE_S", "Runtime"]

ABANDON_GRACE_S = 0.05
"""How long cancelled workers get to unwind before they are abandoned."""
CLOSE_GRACE_S = 0.1
"""The least time a sink's flush and close get, even when the drain used the whole deadline."""


class Runtime:
    """The loop-bound part of an open hub."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread_id = threading.get_ident()
        self._tg: TaskGroup | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._opening: dict[Handler, anyio.Event] = {}
        """Handlers added while running whose sinks are still opening, with an event set when the
        open has succeeded or failed."""
        self._stop = asyncio.Event()
        self.closed = asyncio.Event()
        self._host: asyncio.Future[None] | None = None
        self._starters: set[asyncio.Task[None]] = set()
        """Tasks that start a pump for a plain callback of the loop (see `spawn`), kept until
        done (the loop holds tasks only weakly)."""
        self._abandoned = False
        """A close left a stuck worker behind: stopping does not wait for the hosting task."""

    async def start(self, handlers: list[Handler]) -> None:
        """Start the task that hosts every handler's workers."""
        started = anyio.Event()
        self._host = asyncio.ensure_future(self._host_workers(handlers, started))
        await started.wait()

    async def _host_workers(self, handlers: list[Handler], started: anyio.Event) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for handler in handlers:
                self.start_workers(handler)
            started.set()
            await self._stop.wait()
            tg.cancel_scope.cancel()

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``fn`` in the hosting task group (a handler's pump).

        From a plain callback of the loop (the hand-over of other threads' signals, a span
        ended in a ``call_soon`` callback) no task is current, and anyio cannot always tell
        which event loop library runs: with ``sniffio`` installed it asks sniffio, which knows
        only from within a task, and task creation raises. The start is then made from a small
        task of its own (a pump is started once per spell of parked signals, not per signal).
        """
        tg = self._tg
        assert tg is not None
        if asyncio.current_task(self.loop) is not None:
            tg.start_soon(fn)
            return
        starter = self.loop.create_task(self._start_from_task(tg, fn))
        self._starters.add(starter)
        starter.add_done_callback(self._starters.discard)

    @staticmethod
    async def _start_from_task(tg: TaskGroup, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            tg.start_soon(fn)
        except RuntimeError as exc:  # the task group has closed meanwhile: the close counts
            warn("spawn", f"a pump could not start: {exc!r}")

    def start_workers(self, handler: Handler) -> None:
        """Schedule ``handler``'s workers, under a cancel scope of their own."""
        assert self._tg is not None
        scope = anyio.CancelScope()
        self._scopes[handler.name] = scope
        handler.control.set_spawn(self.spawn)

        # One task per handler hosts its workers under one cancel scope, so that a close that
        # times out can cancel exactly that handler's workers. Task names start with
        # "telemetry-": the logging bridge uses that to recognise the pipeline's own tasks.
        async def host() -> None:
            try:
                with scope:
                    async with anyio.create_task_group() as workers:
                        for i in range(handler.workers):
                            workers.start_soon(
                                handler.control.run_worker,
                                name=f"telemetry-worker-{handler.name}-{i}",
                            )
            finally:
                handler.control.workers_finished()

        handler.control.workers_scheduled()
        self._tg.start_soon(host, name=f"telemetry-handler-{handler.name}")

    def open_late(self, handler: Handler, failed: Callable[[Handler], None]) -> None:
        """Open a handler added while running, in the background; ``failed`` is told if its
        sink cannot open (the handler is then closed, everything it queued counted)."""
        assert self._tg is not None
        self._opening[handler] = anyio.Event()
        self._tg.start_soon(self._open_late, handler, failed, name=f"telemetry-open-{handler.name}")

    async def _open_late(self, handler: Handler, failed: Callable[[Handler], None]) -> None:
        try:
            await handler.control.open()
        except Exception as exc:
            warn(f"open:{handler.name}", f"handler {handler.name!r} could not open: {exc!r}")
            failed(handler)
            handler.control.fail_open()
            return
        finally:
            opening = self._opening.pop(handler, None)
            if opening is not None:
                opening.set()
        if handler.control.state() == "closed":  # the close gave up waiting while the sink opened
            await handler.control.close_sink()
            return
        self.start_workers(handler)

    async def close_handler(self, handler: Handler, limit: float | None) -> None:
        """Drain ``handler`` within ``limit`` seconds, count the rest, close its sink."""
        deadline = math.inf if limit is None else anyio.current_time() + limit
        opening = self._opening.get(handler)
        if opening is not None:
            # Added while running and its sink still opening: what it queued meanwhile is
            # written once the sink is open, within the same time limit as the drain.
            with anyio.CancelScope(deadline=deadline):
                await opening.wait()
        with anyio.CancelScope(deadline=deadline):
            # Parked signals from other threads first: they were emitted before the close.
            await handler.control.wait_unparked()
        handler.control.begin_close()
        with anyio.CancelScope(deadline=deadline):
            await handler.control.wait_drained()
        scope = self._scopes.pop(handler.name, None)
        if handler.control.running() and scope is not None:
            scope.cancel()
            with anyio.move_on_after(ABANDON_GRACE_S):
                await handler.control.wait_drained()
            stuck = handler.control.running()
            if stuck:  # a write that ignores cancellation: leave it behind
                handler.control.abandon_writes()
                self._abandoned = True
            warn(
                f"timeout:{handler.name}",
                f"handler {handler.name!r} did not drain within {limit}s; "
                f"{handler.control.queued()} queued signals dropped"
                + ("; a write stuck in its sink was abandoned" if stuck else ""),
            )
        handler.control.abandon("timeout")
        handler.control.set_spawn(None)
        await _bounded(handler.control.close_sink(), None if limit is None else deadline)

    async def stop(self) -> None:
        """Stop the hosting task (after every handler is closed) and wait for it, but not for
        workers a close abandoned."""
        self._stop.set()
        host = self._host
        if host is not None:
            wait = ABANDON_GRACE_S if self._abandoned else None
            done, _ = await asyncio.wait({host}, timeout=wait)
            if done and not host.cancelled() and host.exception() is not None:
                # A bug in a worker; the counts still hold.
                warn("host", f"the workers' task group failed: {host.exception()!r}")
        self.closed.set()


async def _bounded(work: Coroutine[Any, Any, None], deadline: float | None) -> None:
    """Run ``work`` in a task of its own and wait for it until ``deadline`` (an anyio time; at
    least CLOSE_GRACE_S from now), then leave it running: a sink's close that waits on a thread
    cannot be cancelled, and must not hold up the hub's."""
    task = asyncio.ensure_future(work)
    wait = None
    if deadline is not None:
        wait = max(deadline - anyio.current_time(), CLOSE_GRACE_S)
    done, _ = await asyncio.wait({task}, timeout=wait)
    if not done:
        warn("close-stuck", "a sink's close did not finish in time and was left running")
        _leftover.add(task)
        task.add_done_callback(_leftover.discard)


_leftover: set[asyncio.Future[None]] = set()
"""Tasks left running past a deadline, kept referenced until they end."""
