"""The hub: its configuration, its handlers, its levels and its stats.

A [`Telemetry`][telemetry.Telemetry] is put together from parts, each in a module of its own: the
call filters (``_filters``), the call-site cache (``_sites``), the compiled emitting path
(``_emit``), the hand-over from other threads (``_threads``), and, while it runs, the loop-bound
machinery (``_runtime``). The creators here are one-line forwards to the compiled emitter for the
level.

Its lifecycle (opening, closing, at exit, in a forked child) is its base class's in
``_hub_lifecycle``, its dispatch of signals built elsewhere its other base's in ``_hub_bridges``;
its options are declared in ``_options``.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Never, Self

import anyio

from . import _hooks, _registry
from ._background import Background
from ._calls import Ready
from ._emit import Counts, EmitPlan, compile_emitters
from ._emit_source import forget_sources
from ._env import EnvConfig, read_env
from ._errors import ClosedError, ConfigError
from ._filters import Filters, LevelSpec, MinLevel, NameSpec, RateLimiter, RateSpec
from ._handler import Handler, new_handler
from ._hub_bridges import HubBridges
from ._hub_lifecycle import HubLifecycle, State, live
from ._middleware import Middleware, check_middleware
from ._options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_CLOSE_TIMEOUT_S,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT_S,
    DEFAULT_RETRY_BACKOFF_S,
    HANDLER,
    HUB,
    HUB_NAMES,
    WAITING_MODES,
    Mode,
    check_handler_options,
)
from ._runtime import Runtime
from ._signal import Signal
from ._sites import Sites
from ._spans import SpanHost
from ._stats import HandlerStats, Health, HealthTracker, Stats
from ._threads import ThreadBridge
from .sinks._base import Sink

__all__ = ["DEFAULT_CLOSE_TIMEOUT_S", "Telemetry"]


_DISABLED_FLOOR = 1 << 30

_numbers = itertools.count(1)
# Compiling and swapping the emitters is one step: set_min_level may run on another thread
# while the loop's thread adds a handler, and the last swap must be compiled from the latest
# state.
_compile_lock = threading.Lock()


class Telemetry(HubBridges, HubLifecycle):
    """The hub: creates signals and dispatches them to handlers.

    ```python
    async with Telemetry(
        handlers={"file": FileSink("logs/app.jsonl"), "console": ConsoleSink()},
        min_level="info",
    ) as tel:
        await tel.log("info", "started", port=8080)
    ```

    The call filters (`min_level`, `ns_filter`, `kind_filter`, `id_filter`, `sample`, `when`,
    `rate_limit`) apply to every signal; handlers can add their own. Entering opens every sink
    and starts the workers, and makes this the default hub used by the module-level functions
    (`telemetry.log(...)`); leaving is [`aclose`][telemetry.Telemetry.aclose]. A program with
    no event loop uses `with Telemetry(...) as tel:` instead: the hub runs on a loop of its own
    in a background thread, and the code emits with the `*_nowait` forms. The `TELEMETRY_*`
    environment variables are read here; when no `handlers` are given and `TELEMETRY_CONFIG`
    names a configuration file, the hub is the one that file describes (its options over the
    ones given here), as [`from_file`][telemetry.Telemetry.from_file].

    A hub never swallows signals unseen. Given no `handlers` (and no `TELEMETRY_CONFIG`) and
    still without one when it opens, it writes to stderr as the module-level functions do
    before any hub is open: a handler named `"console"` with a
    [`ConsoleSink`][telemetry.sinks.ConsoleSink] in `TELEMETRY_FORMAT` (readable text by
    default). Given `handlers={}` on purpose, it writes nothing: it says so once on stderr
    when it opens, and counts every signal emitted while it has no handler as dropped
    (`no_handler`), so `emitted == written + dropped` still holds.

    Args:
        handlers: Handler names mapped to a [`Sink`][telemetry.sinks.Sink], or to a mapping
            with a `"sink"` key and [`add_handler`][telemetry.Telemetry.add_handler] options
            (`{"sink": s, "mode": "blocking"}`).
        min_level: The lowest level the hub accepts, or namespace patterns mapped to levels.
        ns_filter: Namespaces to accept or refuse.
        kind_filter: Kinds to accept or refuse.
        id_filter: Signal ids to accept or refuse.
        sample: The fraction of signals kept (errors always are, unless sample_errors).
        sample_errors: Whether sample applies to errors too.
        when: A predicate on the built signal: only signals it accepts go on.
        rate_limit: Most signals per period per key, such as '100/s' (several: each applies).
        limit_by: The rate limit's key for a signal (default: its id).
        middleware: Functions that rewrite a signal, or drop it by returning None, in the
            workers. The hub's run in every handler's workers, before the handler's own.
        location: Whether signals record the file, line and function of their call. `False`
            records the module only.
        close_timeout: Seconds aclose() waits for the queues; what is left is dropped as
            timeout.
        opentelemetry: Make aiotelemetry OpenTelemetry's tracer, logger and meter provider.
            What FastAPI and the instrumented libraries record through OpenTelemetry's API
            then reaches the current hub (see
            [`install`][telemetry.integrations.opentelemetry.install]).
        env: The environment read for TELEMETRY_* and ${VAR} (default: os.environ).
        **unknown: Any other keyword is refused with a [`ConfigError`][telemetry.ConfigError]
            naming it, the options and the closest one: none is accepted (hence the type
            `Never`; the default `{}` is none given).

    Raises:
        ConfigError: An option is not allowed (the message names the handler, the parameter
            and what is allowed), or a keyword is not an option.
        ConfigFileError: `TELEMETRY_CONFIG` names a file with mistakes.
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
        self.location: bool = HUB["location"].check(location)
        #: Seconds ``aclose()`` waits for the queues (``None``: as long as it takes).
        self.close_timeout: float | None = HUB["close_timeout"].check(close_timeout)
        self._start(console_by_default=handlers is None)
        if unknown:
            raise ConfigError.unknown(next(iter(unknown)), HUB_NAMES, what="Telemetry")
        _check_handlers(handlers)
        if opentelemetry:
            _install_opentelemetry()
        self._add_handlers(handlers)

    def _start(self, *, console_by_default: bool) -> None:
        """The state of a new hub: no handler, not open, its emitters compiled."""
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
        self._console_by_default = console_by_default
        self._emitters = compile_emitters(self._plan())
        # The tables are updated in place on every recompile: this binding stays good.
        self._bind_tables(
            self._emitters.table,
            self._emitters.table_nowait,
            self._no,
            SpanHost(self._sites, self._emitters),
        )
        live.add(self)

    def _add_handlers(self, handlers: Mapping[str, Sink | Mapping[str, Any]] | None) -> None:
        """Add the handlers given to the constructor: sinks, or mappings with a sink."""
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
        """A hub described by a mapping: hub options, and `handlers` as tables with a `sink`
        kind and the sink's and handler's options beside it (see the configuration page).

        Args:
            config: The hub's options, and its handlers under `handlers`.
            source: What the mapping came from, named in the error (a file's path, say).
            env: The environment that gives `${VAR}` values and the `TELEMETRY_*` variables,
                which override the mapping (default: `os.environ`).

        Returns:
            The hub, not yet open.

        Raises:
            ConfigFileError: The mapping has mistakes: every one is listed at once, each with
                its option's path, under `source`.
            ConfigError: `config` is not a mapping.
        """
        from ._config import load

        plan = load(config, hub_type=cls, source=source, env=env)
        return cls(plan.handlers, **plan.options, env=env)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
    ) -> Self:
        """[`from_config`][telemetry.Telemetry.from_config] with the mapping in a TOML, YAML
        (with PyYAML) or JSON file.

        Args:
            path: The file; its suffix (`.toml`, `.yaml` or `.yml`, `.json`) says its format.
            env: The environment that gives `${VAR}` values and the `TELEMETRY_*` variables,
                which override the file (default: `os.environ`).

        Returns:
            The hub, not yet open.

        Raises:
            ConfigFileError: The file cannot be read or parsed, or has mistakes (every one is
                listed at once, each with its option's path).
        """
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

    # -- handlers -----------------------------------------------------------------------------

    def add_handler(
        self,
        name: str,
        sink: Sink,
        *,
        mode: Mode = "backpressure",
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        workers: int | None = None,
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
        """Register a handler that delivers signals to `sink`; on a running hub the sink is
        opened in the background, and signals are queued meanwhile.

        Args:
            name: The handler's name, unique in the hub.
            sink: Where its signals are written.
            mode: What an awaited call does when the queue is full: wait, or drop a signal.
                `"backpressure"` waits for room, at most `max_wait`; `"blocking"` as long as it
                takes; `"dropping"` drops the new signal, `"sliding"` the oldest queued one.
                The `*_nowait` forms never wait: in the waiting modes they drop (`queue_full`).
            buffer_size: The queue's capacity, in signals.
            workers: Worker tasks writing to the sink; by default the sink's own number (2 for
                OTLP, else 1).
            batch_size: Most signals a worker hands to the sink at once.
            max_wait: Longest wait for room in backpressure mode before a signal is dropped as
                stalled. Later calls then drop at once until the queue moves again.
            sync: Write inline, before the call returns (debugging). `TELEMETRY_SYNC=1` sets it
                for every handler.
            min_level: The lowest level the handler accepts, or namespace patterns mapped to
                levels. The handler's filters apply after the hub's.
            ns_filter: Namespaces to accept or refuse.
            kind_filter: Kinds to accept or refuse.
            id_filter: Signal ids to accept or refuse.
            sample: The fraction of signals kept (errors always are, unless sample_errors).
            sample_errors: Whether sample applies to errors too.
            when: A predicate on the built signal: only signals it accepts go on.
            rate_limit: Most signals per period per key, such as '100/s' (several: each applies).
            limit_by: The rate limit's key for a signal (default: its id).
            middleware: Functions that rewrite a signal, or drop it by returning None, in the
                workers. They run after the hub's.
            max_retries: Retries of a batch the sink failed to write before it is dropped as
                sink_error.
            retry_backoff: Seconds before the first retry; the delay doubles with each retry.
            **unknown: Any other keyword is refused with a
                [`ConfigError`][telemetry.ConfigError] naming the handler, the keyword, the
                options and the closest one: none is accepted (hence the type `Never`; the
                default `{}` is none given).

        Returns:
            The new [`Handler`][telemetry.Handler].

        Raises:
            ConfigError: An option is not allowed, or the name is taken; the message names the
                handler, the parameter and what is allowed.
            ClosedError: The hub is closing or closed.
        """
        given = locals()  # first, so that it holds the parameters only
        self._check_new_name(name)
        check_handler_options(name, unknown)
        options = {key: given[key] for key in HANDLER}  # the declared options, as given
        options["sync"] = sync or self.env.sync
        try:
            handler = new_handler(name, sink, options)
        except ConfigError as exc:  # a bad option: say which handler it belongs to
            raise exc.for_handler(name) from None
        self._attach(handler)
        return handler

    def _check_new_name(self, name: str) -> None:
        """Refuse a handler name that is not a string, or taken, or a hub that has closed."""
        if not isinstance(name, str) or not name:
            raise ConfigError("name", f"must be a non-empty string, got {name!r}")
        if name in self._handlers:
            raise ConfigError("name", f"must be unique, but a handler named {name!r} exists")
        if self._state in ("closing", "closed"):
            raise ClosedError("cannot add a handler to a closed hub")

    def _attach(self, handler: Handler) -> None:
        """Make ``handler`` one of the hub's: its emitters dispatch to it from now on."""
        handler.control.join_hub(self._middleware, self._bridge.unparked, self._bridge.threads_wait)
        self._handlers[handler.name] = handler
        self._bridge.limit = max(self._bridge.limit, handler.buffer_size * 8)
        if self._state == "open" and self._runtime is not None:
            self._runtime.open_late(handler, self._open_failed)
        self._recompile()

    def _open_failed(self, handler: Handler) -> None:
        if self._handlers.get(handler.name) is handler:
            del self._handlers[handler.name]
            self._recompile()

    async def remove_handler(self, name: str) -> HandlerStats:
        """Stop dispatching to a handler, drain its queue and close its sink.

        Args:
            name: The handler's name.

        Returns:
            The handler's final [`HandlerStats`][telemetry.HandlerStats].

        Raises:
            ConfigError: No handler has that name (the message lists the handlers).
        """
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
        """Change the minimum level while running.

        Safe from any thread: the new levels are parsed first and swapped in with one
        assignment, so a concurrent signal sees either the old or the new setting.

        Args:
            level: A level (a name such as `"debug"`, or a number), or namespace patterns
                mapped to levels, as the hub's `min_level` option.

        Returns:
            The setting it replaced: give it back to restore it exactly.

        Raises:
            ConfigError: The level or a pattern is not allowed; the setting is unchanged.
        """
        previous = self._filters.levels.spec
        self._filters.set_levels(LevelSpec(level, default="info"))
        self._recompile()
        return previous

    @property
    def min_level(self) -> int:
        """The lowest level any namespace accepts now (a number; see [`Level`][telemetry.Level])."""
        return self._filters.levels.floor

    # The creators (signal, log, exception, event, error, each with its *_nowait twin, span and
    # traced) are the methods of Creators, shared with the module-level functions; dispatching
    # signals built elsewhere is HubBridges'.

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


def _check_handlers(handlers: object) -> None:
    """Refuse ``handlers`` that are not a mapping (``None`` is none given)."""
    if handlers is not None and not isinstance(handlers, Mapping):
        raise ConfigError(
            "handlers",
            "must be a mapping of handler names to sinks (or to mappings with a 'sink' "
            f"key and handler options), got {type(handlers).__name__} {handlers!r:.200}",
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


def _new_compile_lock() -> None:
    # A forked child has only the forking thread: a lock held by another one stays held.
    global _compile_lock
    _compile_lock = threading.Lock()


_hooks.in_forked_child(_new_compile_lock, _hooks.LOCKS)


def _parked_count(handlers: tuple[Handler, ...]) -> Callable[[], int]:
    """What counts the handlers' parked signals, asked for every OpenTelemetry span or record
    ended on the loop: with one handler, its own count, without a generator per call."""
    if len(handlers) == 1:
        return handlers[0].control.parked_counter()
    controls = tuple(h.control for h in handlers)
    return lambda: sum([c.parked() for c in controls])
