"""A hub for a synchronous program: its event loop runs on a background thread of its own.

``with Telemetry(...) as tel:`` in a program with no running event loop (a script, a command-line
tool, a Celery or RQ worker, a Django view, a notebook cell) starts a daemon thread that runs a
new event loop, and opens the hub on it. The hub then works as it does under ``async with``: its
workers write on that loop, and every thread, the main one included, emits with the
``*_nowait`` creators, ``bind``, sync spans and ``@traced``, whose signals are handed over to the
loop as any other thread's are (``telemetry._threads``). Leaving the block closes the hub on its
loop (everything accepted is written or counted), then stops the loop and joins the thread.

A process that never leaves the block (a worker killed by its supervisor's SIGTERM handler
calling ``sys.exit``, a program whose main function returns without closing) is covered when
the interpreter shuts down: before threads are joined, every hub still running in the
background is closed on its loop within the exit deadline; what a stuck sink still holds then
is left to the hubs' own exit fallback. A forked child gets a new thread and loop of its own and
the hub opened again there (the parent's thread does not exist in the child); the parent's
queued signals remain the parent's to write.

This module knows the hub only through the few methods it calls (see `Hub`), so that
the hub can import it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from . import _hooks
from ._errors import TelemetryError
from ._warn import warn

__all__ = ["Background", "Hub", "run_in_background"]

T = TypeVar("T")
EXIT_CLOSE_S = 2.0
"""How long the interpreter's shutdown waits for a background hub to close."""
JOIN_S = 5.0
"""How long a thread waits for the background loop to stop once its hub is closed."""


class Hub(Protocol):
    """What the background runner needs of a hub."""

    @property
    def state(self) -> str: ...

    async def open(self) -> None: ...

    async def aclose(self, timeout: Any = "default") -> Any: ...


_running: list[Background] = []
"""The runners of this process whose hub is open."""
_exit_registered = False


class Background:
    """One hub's event loop on a daemon thread."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop's thread and open the hub on it; raise what ``open`` raises."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_serve, args=(loop,), name="telemetry-loop", daemon=True)
        self.loop, self.thread = loop, thread
        thread.start()
        try:
            self.call(self.hub.open())
        except BaseException:
            self._stop_loop()
            raise
        _running.append(self)
        _watch_exit()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result on this thread."""
        loop = self.loop
        if loop is None or self.thread is None or not self.thread.is_alive():
            coro.close()
            raise TelemetryError("the hub's background event loop is not running")
        if threading.current_thread() is self.thread:
            coro.close()
            raise TelemetryError("cannot wait for the hub's loop from the loop itself")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Close the hub on its loop (within ``timeout`` seconds, else the hub's own close
        timeout), then stop the loop and join its thread.

        Interrupted (Ctrl-C while waiting), the hub is left running, to be closed at exit."""
        try:
            if self.hub.state in ("open", "closing"):
                limit = "default" if timeout is None else timeout
                wait = None if timeout is None else timeout + JOIN_S
                self.call(self.hub.aclose(limit), wait)
        except Exception:
            self._forget()
            raise
        self._forget()

    def _forget(self) -> None:
        if self in _running:
            _running.remove(self)
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self.loop, self.thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            if threading.current_thread() is not thread:
                thread.join(JOIN_S)
        self.loop = self.thread = None

    def _restart_in_child(self) -> None:
        """In a forked child: the parent's thread is not here; run the hub on a new one."""
        self.loop = self.thread = None
        if self.hub.state != "new":
            return  # closed in the parent: nothing to serve
        try:
            self.start()
        except Exception as exc:  # the child goes on; its signals go to the fallback
            warn("background-fork", f"could not open the hub again in a forked child: {exc!r}")


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The background thread: run the loop until stopped, then finish it as ``asyncio.run``
    does (remaining tasks cancelled, async generators and the default executor shut down)."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def run_in_background(hub: Hub) -> Background:
    """Open ``hub`` on an event loop of its own in a daemon thread (see the module)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise TelemetryError(
            "'with Telemetry(...)' is for code without a running event loop; "
            "inside one, use 'async with Telemetry(...)'"
        )
    runner = Background(hub)
    runner.start()
    return runner


def _close_all() -> None:
    """At shutdown, before threads are joined: close every hub still running here."""
    for runner in list(_running):
        try:
            runner.close(EXIT_CLOSE_S)
        except Exception as exc:  # the hubs' exit fallback writes what is left
            warn("background-exit", f"closing a background hub at exit failed: {exc!r}")


def _restart_all_in_child() -> None:
    for runner in list(_running):
        _running.remove(runner)
        runner._restart_in_child()


def _watch_exit() -> None:
    """Once per process: close the background hubs when the interpreter shuts down, and serve
    them again in a forked child (after the hubs have forgotten the parent's loop)."""
    global _exit_registered
    if _exit_registered:
        return
    _exit_registered = True
    # threading's own exit hooks run when the main thread ends, before non-daemon threads are
    # joined and before atexit; a multiprocessing child (which leaves with os._exit) runs
    # them too. Registered here, after the hubs' fork hook, so that this one runs after it.
    threading._register_atexit(_close_all)  # type: ignore[attr-defined]
    _hooks.in_forked_child(_restart_all_in_child, _hooks.HUBS)
