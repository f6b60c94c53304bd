"""The hub: its configuration, its handlers, its lifecycle and its stats.

The emitting path lives in :mod:`telemetry._dispatch` and the creators in
:mod:`telemetry._creators`; :class:`Telemetry` puts them together.

Shutdown order (``aclose``): stop accepting; dispatch what other threads handed over before
the close; let parked blocking-mode signals in; close every queue so that workers exit once it
is empty; wait (bounded by the timeout, shielded from cancellation); count what is left as
``timeout``; flush and close every sink. Only then is the hub ``closed``: after that, and only
then, emitted == written + dropped for every handler.
"""

from __future__ import annotations

import asyncio
import atexit
import math
import os
import sys
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import CodeType, TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from ._creators import Creators
from ._dispatch import TAPS, Ready
from ._env import EnvConfig, read_env
from ._errors import ClosedError, ConfigError
from ._filters import Filters, LevelSpec, MinLevel, NameSpec, RateLimiter, RateSpec
from ._handler import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_BACKOFF_S,
    Handler,
    Middleware,
    Mode,
    check_middleware,
)
from ._signal import Location, Signal
from ._stats import HandlerStats, Health, Stats
from ._warn import warn
from .sinks._base import Sink

__all__ = ["DEFAULT_CLOSE_TIMEOUT_S", "Telemetry", "current_hub", "get_hub"]

#: How long ``aclose()`` waits for queues to drain before counting the rest as ``timeout``.
DEFAULT_CLOSE_TIMEOUT_S = 10.0
#: How long the exit fallback may spend writing what an unclosed hub still holds.
EXIT_DEADLINE_S = 2.0
_DISABLED_FLOOR = 1 << 30

HubState = Literal["new", "open", "closing", "closed"]

_stack: list[Telemetry] = []
_fallback: Telemetry | None = None
_live: weakref.WeakSet[Telemetry] = weakref.WeakSet()


#: Called with the default hub whenever it changes, or its level does (the module-level
#: creators keep a precomputed refusal set; see telemetry._api).
_default_listeners: list[Callable[[Telemetry], None]] = []


def _default_changed() -> None:
    hub = current_hub()
    for listener in _default_listeners:
        listener(hub)


def get_hub() -> Telemetry | None:
    """The default hub: the most recently opened one that is still open, or ``None``."""
    return _stack[-1] if _stack else None


def current_hub() -> Telemetry:
    """The default hub, or when none is open the stderr fallback (one readable line per
    signal, as a new user expects before configuring anything)."""
    if _stack:
        return _stack[-1]
    global _fallback
    if _fallback is None:
        _fallback = _StderrHub()
        for listener in _default_listeners:
            listener(_fallback)
    return _fallback


class Telemetry(Creators):
    """The hub: creates signals and dispatches them to handlers.

    ::

        async with Telemetry(
            handlers={"file": FileSink("logs/app.jsonl"), "console": ConsoleSink()},
            min_level="info",
        ) as tel:
            await tel.log("info", "started", port=8080)

    ``handlers`` maps a name to a :class:`~telemetry.sinks.Sink`, or to a mapping with a
    ``"sink"`` key and :meth:`add_handler` options (``{"sink": s, "mode": "blocking"}``).
    The call filters (``min_level``, which may map namespace patterns to levels,
    ``ns_filter``, ``kind_filter``, ``id_filter``, ``sample``, ``when``, ``rate_limit``) apply
    to every signal; handlers can add their own. ``middleware`` runs in every handler's worker.

    Entering opens every sink and starts the workers, and makes this the default hub used by
    the module-level functions (``telemetry.log(...)``); leaving is :meth:`aclose`.
    The ``TELEMETRY_*`` environment variables are read here (see :mod:`telemetry._env`).
    """

    def __init__(
        self,
        handlers: Mapping[str, Sink | Mapping[str, Any]] | None = None,
        *,
        min_level: MinLevel = "info",
        ns_filter: NameSpec = None,
        kind_filter: NameSpec = None,
        id_filter: NameSpec = None,
        sample: float | None = None,
        sample_errors: bool = False,
        when: Callable[[Signal], bool] | None = None,
        rate_limit: RateSpec = None,
        limit_by: Callable[[Signal], Any] | None = None,
        middleware: Sequence[Middleware] = (),
        location: bool = True,
        close_timeout: float | None = DEFAULT_CLOSE_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.env: EnvConfig = read_env(env)
        if self.env.min_level is not None:
            min_level = (
                {**min_level, "*": self.env.min_level}
                if isinstance(min_level, Mapping)
                else self.env.min_level
            )
        self._filters = Filters(
            min_level=min_level,
            ns_filter=ns_filter,
            kind_filter=kind_filter,
            id_filter=id_filter,
            sample=sample,
            sample_errors=sample_errors,
            when=when,
            rate_limit=rate_limit,
            limit_by=limit_by,
            default_level="info",
        )
        self._floor = _DISABLED_FLOOR if self.env.disabled else self._filters.levels.floor
        self._middleware = check_middleware(middleware)
        self.location = bool(location)
        self._plain = self._is_plain()
        if close_timeout is not None and close_timeout <= 0:
            raise ConfigError("close_timeout", f"must be > 0 or None, got {close_timeout!r}")
        self.close_timeout = close_timeout

        self._fast = {}
        self._fast_nowait = {}
        self.state = "new"
        self._handlers: dict[str, Handler] = {}
        self._active: tuple[Handler, ...] = ()
        self._sites: dict[int, tuple[str | None, Location | None, CodeType]] = {}
        self._call_limiters: dict[str, RateLimiter] = {}
        self.emitted = 0
        self.refused = 0

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id = 0
        self._tg: TaskGroup | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        #: Handlers added while running whose sinks are still opening, with an event set when
        #: the open has succeeded or failed.
        self._opening: dict[Handler, anyio.Event] = {}
        self._inbox: deque[tuple[Signal, int]] = deque()
        self._inbox_scheduled = False
        self._overflow: dict[str, deque[Signal]] = {}
        self._overflow_len = 0
        self._room = threading.Event()
        self._room.set()
        self._inbox_limit = DEFAULT_BUFFER_SIZE * 8
        self._stop_workers: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None
        self._yes = Ready(True)
        self._no = Ready(False)
        self._last_health: dict[str, tuple[int, int, int]] = {}

        for name, spec in (handlers or {}).items():
            if isinstance(spec, Sink):
                self.add_handler(name, spec)
            elif isinstance(spec, Mapping) and isinstance(spec.get("sink"), Sink):
                options = {k: v for k, v in spec.items() if k != "sink"}
                self.add_handler(name, spec["sink"], **options)
            else:
                raise ConfigError(
                    f"handlers[{name!r}]",
                    f"must be a Sink or a mapping with a 'sink' key, got {spec!r}",
                )

    # -- handlers -----------------------------------------------------------------------------

    def add_handler(
        self,
        name: str,
        sink: Sink,
        *,
        mode: Mode = "dropping",
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        workers: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        sync: bool = False,
        min_level: MinLevel | None = None,
        ns_filter: NameSpec = None,
        kind_filter: NameSpec = None,
        id_filter: NameSpec = None,
        sample: float | None = None,
        sample_errors: bool = False,
        when: Callable[[Signal], bool] | None = None,
        rate_limit: RateSpec = None,
        limit_by: Callable[[Signal], Any] | None = None,
        middleware: Sequence[Middleware] = (),
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF_S,
    ) -> Handler:
        """Register a handler that delivers signals to ``sink``.

        ``mode``: what happens when the queue (``buffer_size`` signals) is full. ``"dropping"``
        (default) drops the new signal; ``"blocking"`` makes ``await tel.signal(...)`` wait for
        room (the ``*_nowait`` forms drop instead, they never block the loop); ``"sliding"``
        drops the oldest queued signal. ``workers`` tasks take up to ``batch_size`` signals at
        a time. ``sync=True`` (or ``TELEMETRY_SYNC=1``) writes inline, for debugging.
        The filter options are the hub's, applied after them. A batch the sink fails to write
        is retried ``max_retries`` times, ``retry_backoff`` seconds apart, doubling.

        On a running hub the sink is opened in the background; signals are queued meanwhile.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError("name", f"must be a non-empty string, got {name!r}")
        if name in self._handlers:
            raise ConfigError("name", f"must be unique, but a handler named {name!r} exists")
        if self.state in ("closing", "closed"):
            raise ClosedError("cannot add a handler to a closed hub")
        options: dict[str, Any] = {
            "min_level": min_level,
            "ns_filter": ns_filter,
            "kind_filter": kind_filter,
            "id_filter": id_filter,
            "sample": sample,
            "when": when,
            "rate_limit": rate_limit,
            "limit_by": limit_by,
        }
        has_filters = any(v is not None for v in options.values())
        filters = (
            Filters(**options, sample_errors=sample_errors, default_level="trace")
            if has_filters
            else None
        )
        handler = Handler(
            name,
            sink,
            mode=mode,
            buffer_size=buffer_size,
            workers=workers,
            batch_size=batch_size,
            sync=sync or self.env.sync,
            filters=filters,
            middleware=middleware,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
        )
        handler.hub_middleware = self._middleware
        self._handlers[name] = handler
        self._inbox_limit = max(self._inbox_limit, buffer_size * 8)
        if self.state == "open":
            assert self._tg is not None
            self._opening[handler] = anyio.Event()
            self._tg.start_soon(self._open_late, handler, name=f"telemetry-open-{name}")
        self._refresh_active()
        return handler

    async def _open_late(self, handler: Handler) -> None:
        try:
            await handler.open()
        except Exception as exc:
            warn(f"open:{handler.name}", f"handler {handler.name!r} could not open: {exc!r}")
            if self._handlers.get(handler.name) is handler:
                del self._handlers[handler.name]
                self._refresh_active()
            handler.begin_close()
            handler.abandon("sink_error")
            handler.state = "closed"
            return
        finally:
            opening = self._opening.pop(handler, None)
            if opening is not None:
                opening.set()
        if handler.state == "closed":  # the close gave up waiting while the sink opened
            await handler.close_sink()
            return
        self._start_workers(handler)

    async def remove_handler(self, name: str) -> HandlerStats:
        """Stop dispatching to ``name``, drain its queue, close its sink; return its final stats."""
        handler = self._handlers.pop(name, None)
        if handler is None:
            raise ConfigError.choice("name", name, self._handlers)
        self._refresh_active()
        with anyio.CancelScope(shield=True):
            await self._close_handler(handler, self.close_timeout)
        return handler.stats()

    def _refresh_active(self) -> None:
        self._active = tuple(self._handlers.values())
        self._refresh_fast()

    @property
    def handlers(self) -> Mapping[str, Handler]:
        """The registered handlers by name (read-only view)."""
        return dict(self._handlers)

    # -- filters that change while running -----------------------------------------------------

    def set_min_level(self, level: MinLevel) -> None:
        """Change the minimum level (a level, or namespace patterns to levels) while running.

        Safe from any thread: the new levels are parsed first and swapped in with one
        assignment, so a concurrent signal sees either the old or the new setting.
        """
        levels = LevelSpec(level, default="info")
        self._filters.set_levels(levels)
        self._plain = self._is_plain()
        if not self.env.disabled:
            self._floor = levels.floor
        self._refresh_fast()
        if self is current_hub():
            _default_changed()

    def _is_plain(self) -> bool:
        f = self._filters
        return self.location and not f.active and not f.post_build

    @property
    def min_level(self) -> int:
        """The lowest level any namespace accepts now (a number; see :class:`Level`)."""
        return self._filters.levels.floor

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Telemetry:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open every sink and start the workers; make this the default hub.

        A sink that cannot open raises its ``TelemetryError`` here, after the sinks already
        opened are closed again. Prefer ``async with``: it pairs this with :meth:`aclose`.
        """
        if self.state != "new":
            raise ClosedError(f"a hub can be opened once; this one is {self.state}")
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        self._stop_workers = asyncio.Event()
        self._closed = asyncio.Event()
        yes: asyncio.Future[bool] = self._loop.create_future()
        yes.set_result(True)
        no: asyncio.Future[bool] = self._loop.create_future()
        no.set_result(False)
        self._yes, self._no = yes, no
        opened: list[Handler] = []
        try:
            for handler in self._handlers.values():
                await handler.open()
                opened.append(handler)
        except BaseException:
            for handler in opened:
                await handler.close_sink()
            self.state = "closed"
            raise
        # The workers live in a task group hosted by a task of their own, so that aclose() can
        # run from any task (a lifespan handler, a signal handler, the test that opened it).
        started = anyio.Event()
        self._host = asyncio.ensure_future(self._host_workers(started))
        await started.wait()
        self.state = "open"
        _stack.append(self)
        _default_changed()
        _live.add(self)

    async def _host_workers(self, started: anyio.Event) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for handler in self._handlers.values():
                self._start_workers(handler)
            started.set()
            assert self._stop_workers is not None
            await self._stop_workers.wait()
            tg.cancel_scope.cancel()

    def _start_workers(self, handler: Handler) -> None:
        assert self._tg is not None
        scope = anyio.CancelScope()
        self._scopes[handler.name] = scope

        # One task per handler hosts its workers under one cancel scope, so that a close that
        # times out can cancel exactly that handler's workers. Task names start with
        # "telemetry-": the logging bridge uses that to recognise the pipeline's own tasks.
        async def host() -> None:
            try:
                with scope:
                    async with anyio.create_task_group() as workers:
                        for i in range(handler.workers):
                            workers.start_soon(
                                handler.run_worker, name=f"telemetry-worker-{handler.name}-{i}"
                            )
            finally:
                handler.workers_finished()

        handler.workers_scheduled()
        self._tg.start_soon(host, name=f"telemetry-handler-{handler.name}")

    async def flush(self) -> None:
        """Return once every signal accepted so far is written (or dropped), sinks flushed."""
        if self.state != "open":
            return
        self._drain_inbox()
        await self._drain_overflow()
        for handler in self._active:
            await handler.flush()

    async def aclose(self, timeout: float | Literal["default"] | None = "default") -> Stats:
        """Stop accepting signals, drain every queue, flush and close every sink.

        Returns the final :class:`Stats`. Signals emitted afterwards are counted as dropped
        (``closed``). Waits at most ``timeout`` seconds (default: the hub's ``close_timeout``)
        for the queues; what is still queued then is counted as dropped (``timeout``).
        Shielded from cancellation, so that a cancelled shutdown still drains. Calling it again
        returns the same stats.
        """
        if self.state in ("closing", "closed"):
            if self._closed is not None:
                await self._closed.wait()
            return self.stats()
        if self.state == "new":
            self.state = "closed"
            return self.stats()
        limit = self.close_timeout if timeout == "default" else timeout
        with anyio.CancelScope(shield=True):
            self.state = "closing"
            try:
                # Thread signals emitted before the close are accepted, not refused.
                self._drain_inbox(accept=True)
                with anyio.move_on_after(limit):
                    await self._drain_overflow()
                handlers = list(self._handlers.values())
                async with anyio.create_task_group() as tg:
                    for handler in handlers:
                        tg.start_soon(self._close_handler, handler, limit)
            finally:
                self._abandon_overflow()
                self.state = "closed"
                self._room.set()
                if self in _stack:
                    _stack.remove(self)
                    _default_changed()
                assert self._stop_workers is not None
                self._stop_workers.set()
                try:
                    await self._host
                except Exception as exc:  # a bug in a worker; the counts above still hold
                    warn("host", f"the workers' task group failed: {exc!r}")
                assert self._closed is not None
                self._closed.set()
        return self.stats()

    def _abandon_overflow(self) -> None:
        for name, q in self._overflow.items():
            handler = self._handlers.get(name)
            if handler is not None and q:
                handler.reject("timeout", len(q))
            self._overflow_len -= len(q)
            q.clear()

    async def _close_handler(self, handler: Handler, limit: float | None) -> None:
        deadline = math.inf if limit is None else anyio.current_time() + limit
        opening = self._opening.get(handler)
        if opening is not None:
            # Added while running and its sink still opening: what it queued meanwhile is
            # written once the sink is open, within the same time limit as the drain.
            with anyio.CancelScope(deadline=deadline):
                await opening.wait()
        handler.begin_close()
        with anyio.CancelScope(deadline=deadline):
            await handler.wait_drained()
        scope = self._scopes.pop(handler.name, None)
        if handler.running and scope is not None:
            scope.cancel()
            await handler.wait_drained()
            warn(
                f"timeout:{handler.name}",
                f"handler {handler.name!r} did not drain within {limit}s; "
                f"{len(handler.queue)} queued signals dropped",
            )
        handler.abandon("timeout")
        await handler.close_sink()

    def _close_at_exit(self) -> None:
        """The exit fallback: write synchronously what an unclosed hub still holds."""
        if self.state not in ("open", "closing"):
            return
        self.state = "closed"
        deadline = time.monotonic() + EXIT_DEADLINE_S
        self._drain_inbox_sync(deadline)
        for handler in self._handlers.values():
            handler.close_sync(deadline)
        if self in _stack:
            _stack.remove(self)

    def _after_fork(self) -> None:
        """In a forked child. asyncio will not run a loop inherited through fork, so the
        parent's loop, tasks, waiters and queued signals (the parent writes those) are
        forgotten, and an open hub goes back to ``new``: the child's own loop opens it again,
        as a gunicorn or uvicorn worker's lifespan does (``async with hub:``)."""
        self._inbox.clear()
        self._inbox_scheduled = False
        self._overflow.clear()
        self._overflow_len = 0
        self._room = threading.Event()
        self._room.set()
        self.emitted = self.refused = 0
        if self.state in ("open", "closing"):
            self.state = "new"
        self._loop = None
        self._thread_id = 0
        self._tg = None
        self._scopes = {}
        self._opening = {}
        self._stop_workers = self._closed = None
        self._yes, self._no = Ready(True), Ready(False)
        for handler in self._handlers.values():
            handler.after_fork()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "state", "closed") == "open":
            _warn(
                f"unclosed {self!r}: use 'async with Telemetry(...)' or 'await hub.aclose()'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        return f"<Telemetry {self.state} handlers={list(self._handlers)}>"

    # -- stats ----------------------------------------------------------------------------------

    def stats(self) -> Stats:
        """A snapshot: signals emitted, refused by the call filters, and each handler's stats."""
        return Stats(
            state=self.state,
            emitted=self.emitted,
            refused=self.refused,
            handlers={name: h.stats() for name, h in self._handlers.items()},
        )

    def health(self) -> Health:
        """Healthy, or not and why: a handler not open, sink errors or drops since the last
        call, a queue more than 80 % full."""
        problems: list[str] = []
        if self.state != "open":
            problems.append(f"hub is {self.state}")
        for name, h in self._handlers.items():
            errors, drops = h.errors, sum(h.dropped.values())
            last_errors, last_drops, _ = self._last_health.get(name, (0, 0, 0))
            if h.state != "open" and self.state == "open":
                problems.append(f"handler {name!r} is {h.state}")
            if errors > last_errors:
                problems.append(f"handler {name!r}: {errors - last_errors} sink errors")
            if drops > last_drops:
                reasons = ", ".join(f"{k}={v}" for k, v in sorted(h.dropped.items()))
                problems.append(f"handler {name!r}: {drops - last_drops} dropped ({reasons})")
            if len(h.queue) > 0.8 * h.buffer_size:
                problems.append(f"handler {name!r}: queue {len(h.queue)}/{h.buffer_size}")
            self._last_health[name] = (errors, drops, 0)
        return Health(healthy=not problems, problems=tuple(problems))


class _StderrHub(Telemetry):
    """What module-level calls use before any hub is open: each signal at or above the minimum
    level (``info``, or ``TELEMETRY_MIN_LEVEL``) becomes one line on stderr, synchronously."""

    def __init__(self) -> None:
        super().__init__()
        self.state = "open"
        self._thread_id = -1

    def _print(self, sig: Signal) -> None:
        from .formats import JsonFormat, TextFormat

        stream = sys.stderr
        self.emitted += 1
        for tap in TAPS:
            tap(sig)
        try:
            if self.env.format == "json":
                line = JsonFormat().encode(sig).decode()
            else:
                line = TextFormat(colour=stream.isatty()).format(sig)
            stream.write(line + "\n")
            stream.flush()
        except (
            Exception
        ) as exc:  # stderr closed or broken: nowhere to report, not our caller's problem
            warn("fallback", f"could not write to stderr: {exc!r}")

    # Every route a signal takes (awaited, nowait, from any thread) ends in one of these two.
    def _dispatch(
        self, sig: Signal, lv: int, accept: bool = False, from_thread: bool = False
    ) -> list[Handler] | None:
        self._print(sig)
        return None

    def _from_thread(self, sig: Signal, lv: int) -> None:
        self._print(sig)

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        pass  # always "open", and nothing to close


def _close_all_at_exit() -> None:
    for hub in list(_live):
        try:
            hub._close_at_exit()
        except Exception as exc:  # the interpreter is going down; say it and move on
            warn("exit", f"writing queued signals at exit failed: {exc!r}")


def _after_fork_in_child() -> None:
    _stack.clear()
    for hub in list(_live):
        hub._after_fork()
    _default_changed()


atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
