"""A hub's lifecycle: opening it, flushing it, closing it; ``async with`` and ``with``; at exit
and in a forked child.

[`HubLifecycle`][telemetry._hub_lifecycle.HubLifecycle] is a base of
[`Telemetry`][telemetry.Telemetry]: the methods that move a hub from ``new`` to ``open`` to
``closed``, with the state they share with the rest of the hub (built by its constructor).

Shutdown order (``aclose``): deliver what other threads handed over before the close; stop
accepting; then, for every handler at once and within the timeout: let its parked signals in,
drain its queue, count what is left as ``timeout``, flush and close its sink. Only then is the
hub ``closed``: after that, and only then, emitted == written + dropped for every handler.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import anyio

from . import _hooks, _registry, _taps
from ._background import Background, run_in_background
from ._calls import Ready
from ._creators import Creators
from ._emit import Counts, Emitters
from ._env import EnvConfig
from ._errors import ClosedError
from ._handler import Handler
from ._runtime import Runtime
from ._stats import Stats
from ._threads import ThreadBridge
from ._warn import warn
from .sinks._base import Sink
from .sinks.console import ConsoleSink

__all__ = ["EXIT_DEADLINE_S", "HubLifecycle", "State", "live"]

State = Literal["new", "open", "closing", "closed"]
#: How long the exit fallback may spend writing what an unclosed hub still holds.
EXIT_DEADLINE_S = 2.0

#: Every hub not yet garbage-collected: the ones to recompile when a capture tap changes, to
#: write out at exit, and to reset in a forked child.
live: weakref.WeakSet[HubLifecycle] = weakref.WeakSet()


class HubLifecycle(Creators):
    """Opening, flushing and closing a [`Telemetry`][telemetry.Telemetry] hub."""

    env: EnvConfig
    close_timeout: float | None
    _state: State
    _handlers: dict[str, Handler]
    _runtime: Runtime | None
    _bridge: ThreadBridge
    _emitters: Emitters
    _counts: Counts
    _yes: Awaitable[bool]
    _inline: bool
    _background: Background | None
    _console_by_default: bool

    if TYPE_CHECKING:  # the hub's own, in telemetry._hub

        def _recompile(self) -> None: ...
        def add_handler(self, name: str, sink: Sink) -> Handler: ...
        def stats(self) -> Stats: ...

    @property
    def state(self) -> State:
        """``new``, ``open``, ``closing`` or ``closed``."""
        return self._state

    def _set_state(self, state: State) -> None:
        self._state = state
        self._recompile()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        """``with Telemetry(...) as tel:`` in a program with no running event loop: the hub
        runs on a loop of its own in a daemon thread, and every thread (this one too) emits
        with the ``*_nowait`` creators, ``bind``, sync spans and ``@traced``. Leaving the block
        closes the hub as [`aclose`][telemetry.Telemetry.aclose] does. Inside a running loop,
        use ``async with``."""
        self._background = run_in_background(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        background, self._background = self._background, None
        if background is not None:
            background.close()

    async def open(self) -> None:
        """Open every sink and start the workers; make this the default hub.

        A sink that cannot open raises its ``TelemetryError`` here, after the sinks already
        opened are closed again. Prefer ``async with``: it pairs this with
        [`aclose`][telemetry.Telemetry.aclose].
        """
        if self._state != "new":
            raise ClosedError(f"a hub can be opened once; this one is {self._state}")
        if not self._handlers:
            self._open_without_handlers()
        runtime = Runtime()
        yes = runtime.loop.create_future()
        yes.set_result(True)
        no = runtime.loop.create_future()
        no.set_result(False)
        opened: list[Handler] = []
        try:
            for handler in self._handlers.values():
                await handler.control.open()
                opened.append(handler)
        except BaseException:
            for handler in opened:
                await handler.control.close_sink()
            self._state = "closed"
            raise
        await runtime.start(list(self._handlers.values()))
        self._runtime = runtime
        self._yes = yes
        self._bind_tables(self._emitters.table, self._emitters.table_nowait, no, self.span_host)
        self._set_state("open")
        _registry.push(self)

    def _open_without_handlers(self) -> None:
        """Opening with no handler: the console when none were given, else say once that
        what the hub receives is counted as dropped."""
        if self._console_by_default:
            fmt = self.env.format  # "auto" is text here, as the stderr fallback writes
            sink = ConsoleSink(
                format="json" if fmt == "json" else "logfmt" if fmt == "logfmt" else "text"
            )
            self.add_handler("console", sink)
        else:
            warn(
                "no-handler",
                "a hub opened with handlers={} writes nothing: the signals it receives are "
                "counted as dropped (no_handler); give it a sink, or leave handlers out to "
                "write to the console",
            )

    def _serve_inline(self) -> None:
        """Open without a loop, delivering on the emitting thread (the stderr fallback)."""
        self._inline = True
        for handler in self._handlers.values():
            handler.control.open_inline()
        self._set_state("open")

    async def flush(self) -> None:
        """Return once every signal accepted so far is written (or dropped), sinks flushed."""
        if self._state != "open" or self._runtime is None:
            return
        self._bridge.drain()
        for handler in list(self._handlers.values()):
            await handler.control.wait_unparked()
            await handler.control.flush()

    async def aclose(self, timeout: float | Literal["default"] | None = "default") -> Stats:
        """Stop accepting signals, drain every queue, flush and close every sink.

        Signals emitted afterwards are counted as dropped (`closed`). Shielded from
        cancellation, so that a cancelled shutdown still drains. Calling it again returns the
        same stats.

        Args:
            timeout: Most seconds to wait for the queues; what is still queued then is counted
                as dropped (`timeout`). `"default"` is the hub's `close_timeout`, `None` waits
                as long as it takes.

        Returns:
            The final [`Stats`][telemetry.Stats].
        """
        runtime = self._runtime
        if self._state in ("closing", "closed"):
            if runtime is not None:
                await runtime.closed.wait()
            return self.stats()
        if self._state == "new" or runtime is None:
            self._set_state("closed")
            return self.stats()
        limit = self.close_timeout if timeout == "default" else timeout
        with anyio.CancelScope(shield=True):
            # Thread signals emitted before the close are accepted, not refused.
            self._bridge.drain()
            self._set_state("closing")
            try:
                async with anyio.create_task_group() as tg:
                    for handler in list(self._handlers.values()):
                        tg.start_soon(runtime.close_handler, handler, limit)
            finally:
                self._set_state("closed")
                self._bridge.attach(None, None, lambda: 0, False)
                _registry.remove(self)
                await runtime.stop()
        return self.stats()

    def _close_at_exit(self) -> None:
        """The exit fallback: write synchronously what an unclosed hub still holds."""
        if self._state not in ("open", "closing") or self._inline:
            return
        self._state = "closed"
        deadline = time.monotonic() + EXIT_DEADLINE_S
        self._bridge.attach(None, None, lambda: 0, False)
        for sig, lv in self._bridge.take_all():
            if not self._handlers:  # else the first handler counts it (Counts)
                self._counts.direct += 1
            for h in self._handlers.values():
                if h.control.wants(sig, lv):
                    h.control.park(sig)
        for handler in self._handlers.values():
            handler.control.close_sync(deadline)
        _registry.remove(self)

    def _after_fork(self) -> None:
        """In a forked child. asyncio will not run a loop inherited through fork, so the
        parent's loop, tasks, waiters and queued signals (the parent writes those) are
        forgotten, and an open hub goes back to ``new``: the child's own loop opens it again,
        as a gunicorn or uvicorn worker's lifespan does (``async with hub:``)."""
        self._bridge.after_fork()
        self._counts.reset()
        if self._state in ("open", "closing") and not self._inline:
            self._state = "new"
        self._runtime = None
        self._yes = Ready(True)
        self._bind_tables(
            self._emitters.table, self._emitters.table_nowait, Ready(False), self.span_host
        )
        for handler in self._handlers.values():
            handler.control.after_fork()
        self._recompile()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "_state", "closed") == "open" and not getattr(self, "_inline", True):
            _warn(
                f"unclosed {self!r}: use 'async with Telemetry(...)' or 'await hub.aclose()'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )


def _recompile_all() -> None:
    for hub in list(live):
        hub._recompile()


def _close_all_at_exit() -> None:
    for hub in list(live):
        try:
            hub._close_at_exit()
        except Exception as exc:  # the interpreter is going down; say it and move on
            warn("exit", f"writing queued signals at exit failed: {exc!r}")


def _after_fork_in_child() -> None:
    _registry.stack.clear()
    for hub in list(live):
        hub._after_fork()
    _registry.changed()


_taps.on_change(_recompile_all)
_hooks.in_forked_child(_after_fork_in_child, _hooks.HUBS)
_hooks.at_exit(_close_all_at_exit, _hooks.HUBS)
