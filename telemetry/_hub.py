"""The hub: its configuration, its handlers, its creators, its lifecycle and its stats.

A :class:`Telemetry` is put together from parts, each in a module of its own: the call filters
(``_filters``), the call-site cache (``_sites``), the compiled emitting path (``_emit``), the
hand-over from other threads (``_threads``), and, while it runs, the loop-bound machinery
(``_runtime``). The creators here are one-line forwards to the compiled emitter for the level.

Shutdown order (``aclose``): deliver what other threads handed over before the close; stop
accepting; then, for every handler at once and within the timeout: let its parked signals in,
drain its queue, count what is left as ``timeout``, flush and close its sink. Only then is the
hub ``closed``: after that, and only then, emitted == written + dropped for every handler.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Never, Self

import anyio
import msgspec

from . import _hooks, _registry, _taps
from ._background import Background, run_in_background
from ._calls import Ready
from ._creators import Creators
from ._emit import Counts, EmitPlan, compile_emitters
from ._emit_source import forget_sources
from ._env import EnvConfig, read_env
from ._errors import ClosedError, ConfigError
from ._filters import Filters, LevelSpec, MinLevel, NameSpec, RateLimiter, RateSpec
from ._handler import Handler
from ._handler_options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT_S,
    DEFAULT_RETRY_BACKOFF_S,
    WAITING_MODES,
    Middleware,
    Mode,
    check_handler_options,
    check_middleware,
)
from ._runtime import Runtime
from ._signal import Signal
from ._sites import Sites
from ._spans import SpanHost
from ._stats import HandlerStats, Health, HealthTracker, Stats
from ._threads import ThreadBridge
from ._warn import warn
from .sinks._base import Sink
from .sinks.console import ConsoleSink

__all__ = ["DEFAULT_CLOSE_TIMEOUT_S", "Telemetry"]


#: How long ``aclose()`` waits for queues to drain before counting the rest as ``timeout``.
DEFAULT_CLOSE_TIMEOUT_S = 10.0
#: How long the exit fallback may spend writing what an unclosed hub still holds.
EXIT_DEADLINE_S = 2.0
_DISABLED_FLOOR = 1 << 30
#: The keyword arguments of ``Telemetry(...)``, named by the error for a misspelt one.
_HUB_OPTIONS = (
    "close_timeout",
    "env",
    "handlers",
    "id_filter",
    "kind_filter",
    "limit_by",
    "location",
    "middleware",
    "min_level",
    "ns_filter",
    "opentelemetry",
    "rate_limit",
    "sample",
    "sample_errors",
    "when",
)
State = Literal["new", "open", "closing", "closed"]

_live: weakref.WeakSet[Telemetry] = weakref.WeakSet()
_numbers = itertools.count(1)
# Compiling and swapping the emitters is one step: set_min_level may run on another thread
# while the loop's thread adds a handler, and the last swap must be compiled from the latest
# state.
_compile_lock = threading.Lock()


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
    ``location=False`` records the module but not the file and line of each call.
    ``opentelemetry=True`` makes aiotelemetry OpenTelemetry's global tracer, logger and
    meter provider (:func:`telemetry.integrations.opentelemetry.install`): what FastAPI and the
    instrumented libraries record through OpenTelemetry's API reaches the current hub.

    Entering opens every sink and starts the workers, and makes this the default hub used by
    the module-level functions (``telemetry.log(...)``); leaving is :meth:`aclose`. A program
    with no event loop uses ``with Telemetry(...) as tel:`` instead: the hub runs on a loop of
    its own in a background thread, and the code emits with the ``*_nowait`` forms.
    The ``TELEMETRY_*`` environment variables are read here (see :mod:`telemetry._env`); when
    no ``handlers`` are given and ``TELEMETRY_CONFIG`` names a configuration file, the hub is
    the one that file describes (its options over the ones given here), as :meth:`from_file`.

    A hub never swallows signals unseen. Given no ``handlers`` (and no ``TELEMETRY_CONFIG``)
    and still without one when it opens, it writes to stderr as the module-level functions do
    before any hub is open: a handler named ``"console"`` with a :class:`ConsoleSink` in
    ``TELEMETRY_FORMAT`` (readable text by default). Given ``handlers={}`` on purpose, it writes
    nothing: it says so once on stderr when it opens, and counts every signal emitted while it
    has no handler as dropped (``no_handler``), so ``emitted == written + dropped`` still holds.
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
        opentelemetry: bool = False,
        env: Mapping[str, str] | None = None,
        **unknown: Never,
    ) -> None:
        self.env: EnvConfig = read_env(env)
        if handlers is None and self.env.config is not None:
            # TELEMETRY_CONFIG: the file's handlers, and its options over the ones given here.
            from ._config import load_over

            handlers, options = load_over(self.env.config, type(self), env, locals())
            Telemetry.__init__(self, handlers, **options, env=env)
            return
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
        self._middleware = check_middleware(middleware)
        #: Whether signals record the file, line and function of their call.
        self.location = bool(location)
        if close_timeout is not None and close_timeout <= 0:
            raise ConfigError("close_timeout", f"must be > 0 or None, got {close_timeout!r}")
        self.close_timeout = close_timeout

        self._state: State = "new"
        self._handlers: dict[str, Handler] = {}
        self._sites = Sites(self.location)
        self._counts = Counts()
        self._limiters: dict[str, RateLimiter] = {}
        self._bridge = ThreadBridge(DEFAULT_BUFFER_SIZE * 8)
        self._runtime: Runtime | None = None
        #: The loop's thread when opened with ``with`` (no running loop), else ``None``.
        self._background: Background | None = None
        #: Run on the calling thread, with no loop: the stderr fallback.
        self._inline = False
        self._yes: Awaitable[bool] = Ready(True)
        self._no = Ready(False)
        self._health = HealthTracker()
        #: The name the compiled emitters' filenames give this hub, and those filenames.
        self._label = f"hub{next(_numbers)}"
        self._sources: set[str] = set()
        weakref.finalize(self, forget_sources, self._sources)
        #: No handlers given: the console is added at open if none was added by then.
        self._console_by_default = handlers is None
        self._emitters = compile_emitters(self._plan())
        # The tables are updated in place on every recompile: this binding stays good.
        self._bind_tables(
            self._emitters.table,
            self._emitters.table_nowait,
            self._no,
            SpanHost(self._sites, self._emitters),
        )
        _live.add(self)

        if unknown:
            raise ConfigError.unknown(next(iter(unknown)), _HUB_OPTIONS, what="Telemetry")
        if handlers is not None and not isinstance(handlers, Mapping):
            raise ConfigError(
                "handlers",
                "must be a mapping of handler names to sinks (or to mappings with a 'sink' "
                f"key and handler options), got {type(handlers).__name__} {handlers!r:.200}",
            )
        if opentelemetry:
            _install_opentelemetry()
        for name, spec in (handlers or {}).items():
            if isinstance(spec, Sink):
                self.add_handler(name, spec)
            elif isinstance(spec, Mapping) and isinstance(spec.get("sink"), Sink):
                options = {k: v for k, v in spec.items() if k != "sink"}
                check_handler_options(str(name), options)
                self.add_handler(name, spec["sink"], **options)
            else:
                raise ConfigError(
                    "sink",
                    "must be a telemetry.sinks.Sink, given as the handler itself or as the "
                    f"'sink' key of a mapping of handler options; got {spec!r:.200}",
                    handler=str(name),
                )

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        source: str = "configuration",
        env: Mapping[str, str] | None = None,
    ) -> Self:
        """A hub described by a mapping: hub options, and ``handlers`` as tables with a
        ``sink`` kind and the sink's and handler's options beside it (see the configuration
        page). Every mistake is reported at once, in one :class:`ConfigError` naming ``source``
        and each option's path. ``env`` (default ``os.environ``) gives ``${VAR}`` values and the
        ``TELEMETRY_*`` variables, which override the mapping."""
        from ._config import load

        plan = load(config, hub_type=cls, source=source, env=env)
        return cls(plan.handlers, **plan.options, env=env)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
    ) -> Self:
        """:meth:`from_config` with the mapping in a TOML, YAML (with PyYAML) or JSON file."""
        from ._config import load_file

        plan = load_file(path, hub_type=cls, env=env)
        return cls(plan.handlers, **plan.options, env=env)

    # -- the compiled emitting path -----------------------------------------------------------

    def _plan(self) -> EmitPlan:
        runtime = self._runtime
        return EmitPlan(
            floor=_DISABLED_FLOOR if self.env.disabled else self._filters.levels.floor,
            filters=self._filters,
            sites=self._sites,
            handlers=tuple(self._handlers.values()),
            open=self._state == "open",
            loop_thread=None if self._inline or runtime is None else runtime.thread_id,
            handoff=None if runtime is None or self._inline else self._bridge.put,
            counts=self._counts,
            limiters=self._limiters,
            yes=self._yes,
            no=self._no,
            hub=self._label,
            sources=self._sources,
            debug=self.env.debug_emit,
        )

    def _recompile(self) -> None:
        """Recompile the emitters; called after any change to what they bind. Readers take
        no lock: they see the old emitter or the new one, and either is right for a call
        that raced with the change."""
        with _compile_lock:
            self._emitters.swap(compile_emitters(self._plan()))
            handlers = tuple(self._handlers.values())  # a snapshot: threads read it
            if self._runtime is not None and not self._inline:
                self._bridge.attach(
                    self._runtime.loop,
                    self._emitters.deliver,
                    _parked_count(handlers),
                    any(h.mode in WAITING_MODES or h.sync for h in handlers),
                )
        if _registry.stack and _registry.stack[-1] is self:
            _registry.changed()

    @property
    def state(self) -> State:
        """``new``, ``open``, ``closing`` or ``closed``."""
        return self._state

    def _set_state(self, state: State) -> None:
        self._state = state
        self._recompile()

    # -- handlers -----------------------------------------------------------------------------

    def add_handler(
        self,
        name: str,
        sink: Sink,
        *,
        mode: Mode = "backpressure",
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        workers: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_wait: float = DEFAULT_MAX_WAIT_S,
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
        **unknown: Never,
    ) -> Handler:
        """Register a handler that delivers signals to ``sink``.

        ``mode``: what an awaited call does when the queue (``buffer_size`` signals) is full.
        ``"backpressure"`` (default) waits, yielding to the loop, until the workers make room,
        so a loop of awaited calls loses nothing; but never longer than ``max_wait`` seconds
        (0.1): a sink that makes no progress in that time has its signals counted as dropped
        (``stalled``), and later calls drop at once until the queue moves again.
        ``"blocking"`` waits as long as it takes; ``"dropping"`` drops the new signal;
        ``"sliding"`` drops the oldest queued one. The ``*_nowait`` forms never wait on the
        loop: in the waiting modes a full queue drops their signal (``queue_full``).
        ``workers`` tasks take up to ``batch_size`` signals at a time. ``sync=True`` (or
        ``TELEMETRY_SYNC=1``) writes inline, for debugging. The filter options are the hub's,
        applied after them. A batch the sink fails to write is retried ``max_retries`` times,
        ``retry_backoff`` seconds apart, doubling.

        On a running hub the sink is opened in the background; signals are queued meanwhile.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError("name", f"must be a non-empty string, got {name!r}")
        if name in self._handlers:
            raise ConfigError("name", f"must be unique, but a handler named {name!r} exists")
        if self._state in ("closing", "closed"):
            raise ClosedError("cannot add a handler to a closed hub")
        check_handler_options(name, unknown)
        try:
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
            filters = (
                Filters(**options, sample_errors=sample_errors, default_level="trace")
                if any(v is not None for v in options.values())
                else None
            )
            handler = Handler(
                name,
                sink,
                mode=mode,
                buffer_size=buffer_size,
                workers=workers,
                batch_size=batch_size,
                max_wait=max_wait,
                sync=sync or self.env.sync,
                filters=filters,
                middleware=middleware,
                max_retries=max_retries,
                retry_backoff=retry_backoff,
            )
        except ConfigError as exc:  # a bad option: say which handler it belongs to
            raise exc.for_handler(name) from None
        handler.control.join_hub(self._middleware, self._bridge.unparked)
        self._handlers[name] = handler
        self._bridge.limit = max(self._bridge.limit, buffer_size * 8)
        if self._state == "open" and self._runtime is not None:
            self._runtime.open_late(handler, self._open_failed)
        self._recompile()
        return handler

    def _open_failed(self, handler: Handler) -> None:
        if self._handlers.get(handler.name) is handler:
            del self._handlers[handler.name]
            self._recompile()

    async def remove_handler(self, name: str) -> HandlerStats:
        """Stop dispatching to ``name``, drain its queue, close its sink; return its final stats."""
        handler = self._handlers.pop(name, None)
        if handler is None:
            raise ConfigError.choice("name", name, self._handlers)
        self._recompile()
        if self._runtime is not None:
            with anyio.CancelScope(shield=True):
                await self._runtime.close_handler(handler, self.close_timeout)
        return handler.stats()

    @property
    def handlers(self) -> Mapping[str, Handler]:
        """The registered handlers by name (read-only view)."""
        return dict(self._handlers)

    # -- levels --------------------------------------------------------------------------------

    def set_min_level(self, level: MinLevel) -> MinLevel:
        """Change the minimum level (a level, or namespace patterns to levels) while running;
        return the setting it replaced (give it back to restore it exactly).

        Safe from any thread: the new levels are parsed first and swapped in with one
        assignment, so a concurrent signal sees either the old or the new setting.
        """
        previous = self._filters.levels.spec
        self._filters.set_levels(LevelSpec(level, default="info"))
        self._recompile()
        return previous

    @property
    def min_level(self) -> int:
        """The lowest level any namespace accepts now (a number; see :class:`Level`)."""
        return self._filters.levels.floor

    # The creators (signal, log, exception, event, error, each with its *_nowait twin, span and
    # traced) are the methods of Creators, shared with the module-level functions.

    def emit_signal(self, sig: Signal) -> Awaitable[bool]:
        """Dispatch an already built signal (from a bridge, or to re-emit); no call filters."""
        return self._emitters.dispatch(sig, sig.severity)

    def emit_signal_nowait(self, sig: Signal) -> None:
        """:meth:`emit_signal` without awaiting, from any thread."""
        self._emitters.dispatch_nowait(sig, sig.severity)

    # -- for bridges that decide before they build (OpenTelemetry's spans and records) -------

    def accepts(
        self, level: int, ns: str | None, kind: str, id: str | None, *, sample: bool = True
    ) -> bool:
        """Whether the call filters let a signal of this level, namespace, kind and id through,
        as far as they decide before it is built: the level floor, the namespace's level and
        the patterns, and with ``sample`` sampling (a refusal past the floor then counts as
        ``refused``). Nothing is built; the rest is :meth:`emit_built_nowait`'s."""
        if self._emitters.table_nowait[level] is False:
            return False
        f = self._filters
        if not f.active:
            return True
        if not f.allows_names(level, ns, kind, id) or (sample and f.sampled_out(level, kind)):
            if sample:
                self._counts.refused += 1
            return False
        return True

    def emit_built_nowait(self, sig: Signal, level: int) -> bool:
        """Dispatch ``sig``, built after :meth:`accepts` said yes, from any thread: the call
        filters that need the signal (``when``, rate limits), then every handler. Built on
        another thread than the loop's, it is marked with that thread's name."""
        f = self._filters
        if f.post_build:
            try:
                ok = f.allows_built(sig)
            except Exception as exc:  # a predicate of the user's blew up
                warn("filters", f"a call filter raised {exc!r}")
                ok = False
            if not ok:
                self._counts.refused += 1
                return False
        runtime = self._runtime
        if runtime is not None and not self._inline:
            if threading.get_ident() != runtime.thread_id:
                if sig.thread is None:
                    sig = msgspec.structs.replace(sig, thread=threading.current_thread().name)
            elif self._bridge.has_room():
                # On the loop, a call of OpenTelemetry's synchronous API cannot wait: where an
                # awaited call would wait for room, its signal is parked for the handler's pump
                # (as a signal from another thread is), within the hand-over's limit, instead
                # of being dropped as a ``*_nowait`` call's would be.
                self._emitters.deliver(sig, level)
                return True
        self._emitters.dispatch_nowait(sig, level)
        return True

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

    def __enter__(self) -> Telemetry:
        """``with Telemetry(...) as tel:`` in a program with no running event loop: the hub
        runs on a loop of its own in a daemon thread, and every thread (this one too) emits
        with the ``*_nowait`` creators, ``bind``, sync spans and ``@traced``. Leaving the block
        closes the hub as :meth:`aclose` does. Inside a running loop, use ``async with``."""
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
        opened are closed again. Prefer ``async with``: it pairs this with :meth:`aclose`.
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

        Returns the final :class:`Stats`. Signals emitted afterwards are counted as dropped
        (``closed``). Waits at most ``timeout`` seconds (default: the hub's ``close_timeout``)
        for the queues; what is still queued then is counted as dropped (``timeout``).
        Shielded from cancellation, so that a cancelled shutdown still drains. Calling it again
        returns the same stats.
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

    def __repr__(self) -> str:
        return f"<Telemetry {self._state} handlers={list(self._handlers)}>"

    # -- stats ----------------------------------------------------------------------------------

    @property
    def emitted(self) -> int:
        """Signals that passed the call filters so far."""
        return self._counts.emitted

    @property
    def refused(self) -> int:
        """Signals the call filters refused past the level floor so far."""
        return self._counts.refused

    def stats(self) -> Stats:
        """A snapshot: signals emitted, refused by the call filters, and each handler's stats."""
        return Stats(
            state=self._state,
            emitted=self._counts.emitted,
            refused=self._counts.refused,
            handlers={name: h.stats() for name, h in self._handlers.items()},
            no_handler=self._counts.direct,
        )

    def health(self) -> Health:
        """Healthy, or not and why: a handler not open, sink errors or drops since the last
        call, a queue more than 80 % full."""
        return self._health.check(
            self._state,
            {n: h.stats() for n, h in self._handlers.items()},
            no_handler=self._counts.direct,
        )


def _install_opentelemetry() -> None:
    """``Telemetry(opentelemetry=True)``: install the OpenTelemetry providers (once per
    process; the module, and OpenTelemetry's, are imported only here)."""
    try:
        from .integrations.opentelemetry import install
    except ImportError as exc:
        raise ConfigError(
            "opentelemetry",
            f"needs opentelemetry-api ({exc.name or exc} is missing): "
            "pip install 'aiotelemetry[opentelemetry]'",
        ) from None
    install()


def _recompile_all() -> None:
    for hub in list(_live):
        hub._recompile()


def _close_all_at_exit() -> None:
    for hub in list(_live):
        try:
            hub._close_at_exit()
        except Exception as exc:  # the interpreter is going down; say it and move on
            warn("exit", f"writing queued signals at exit failed: {exc!r}")


def _new_compile_lock() -> None:
    # A forked child has only the forking thread: a lock held by another one stays held.
    global _compile_lock
    _compile_lock = threading.Lock()


def _after_fork_in_child() -> None:
    _registry.stack.clear()
    for hub in list(_live):
        hub._after_fork()
    _registry.changed()


_taps.on_change(_recompile_all)
_hooks.in_forked_child(_new_compile_lock, _hooks.LOCKS)
_hooks.in_forked_child(_after_fork_in_child, _hooks.HUBS)
_hooks.at_exit(_close_all_at_exit, _hooks.HUBS)


def _parked_count(handlers: tuple[Handler, ...]) -> Callable[[], int]:
    """What counts the handlers' parked signals, asked for every OpenTelemetry span or record
    ended on the loop: with one handler, its own count, without a generator per call."""
    if len(handlers) == 1:
        return handlers[0].control.parked
    controls = tuple(h.control for h in handlers)
    return lambda: sum([c.parked() for c in controls])
