"""The emitting path: one function per level, compiled for the hub's configuration.

There is one path from a creator to the queues, and this module is it. For each level a hub
accepts, `compile_emitters` generates one function from the stages the configuration
needs (per-namespace levels and namespace patterns, decided once per namespace and cached;
kind and id patterns; sampling; ``when`` and rate limits; the capture taps; each handler's own
filters, a plain level among them decided when compiling; one inline append per handler) and
binds to it everything the call reads (the call-site cache, the handlers' queues, the finished
awaitables, host and pid) as globals. A stage the configuration does not need is not skipped
at run time; it is not there. The hub recompiles whenever something bound here changes (its
state, handlers, filters, level, or the installed taps).

An emitter finds its call site, builds one [`Signal`][telemetry.Signal] and hands it to an *offer*:
on the loop's thread the offer appends to each handler's queue when there is room and otherwise asks
the handler through its intake (``Intake.offer_full``: evict, drop, or wait, as its mode
says); a signal built on
another thread is handed over to the loop (``telemetry._threads``), where the same offer,
compiled for parking, delivers it in order. The ``*_nowait`` forms share the emitter's body and
differ only in what they return and in never waiting.

Tables map every spelling of every level to ``False`` (below the hub's floor: refuse at once)
or the level's emitter; a level number of one's own is compiled on first use.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from random import random as _random
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

from . import _otel, _taps
from ._context import SpanContext, _scope
from ._emit_source import (
    DISPATCH_SOURCE,
    compile_function,
    emitter_source,
    filter_stage,
    offer_source,
    shape_label,
    source_digest,
)
from ._errors import ConfigError
from ._filters import Filters, RateLimiter, RateSpec
from ._handler import Handler
from ._intake import Intake
from ._queue import SignalQueue
from ._signal import (
    LABEL_OF,
    LEVEL_NAMES,
    LEVELS,
    ErrorInfo,
    Location,
    ProcessInfo,
    Signal,
    _spare_uids,
    error_info,
    new_uid,
)
from ._sites import Sites
from ._warn import warn

__all__ = [
    "Counts",
    "Emit",
    "EmitPlan",
    "EmitTable",
    "Emitters",
    "More",
    "compile_emitters",
    "text",
]

R = TypeVar("R")
_REFUSE_ALL = 1 << 30
_NS_CACHE_MAX = 4096
_CUSTOM_LEVELS_MAX = 64

R_co = TypeVar("R_co", covariant=True)


class Emit(Protocol[R_co]):
    """A compiled emitter: ``emit(kind, id, msg, data, error=None, more=None)``; ``data`` is
    adopted as it is. ``emit.span(id, data, error, ns, location, span, duration_ns, inst)``
    is a span's end at the same level (``span`` its `SpanContext`), without a ``More``."""

    @property
    def span(self) -> Callable[..., R_co]:
        """The span's end at this emitter's level."""

    def __call__(self, *args: Any, **kwargs: Any) -> R_co:
        """Emit a signal at this emitter's level."""


@dataclass(slots=True, kw_only=True)
class More:
    """What a call says beyond ``log`` / ``event``: from ``signal()``, ``error()``, a span's end
    and the logging bridge. Built only on those paths; a ``None`` in its place costs nothing.
    ``up`` is how many frames past the application's first one the call site is
    (``stacklevel`` - 1)."""

    ctx: Mapping[Any, Any] | None = None
    ns: str | None = None
    location: Location | None = None
    sample: float | None = None
    rate_limit: RateSpec = None
    limit_by: object = None
    up: int = 0
    span: SpanContext | None = None
    duration_ns: int | None = None
    inst: int | None = None
    thread: str | None = None
    task: str | None = None

    def __post_init__(self) -> None:
        sample = self.sample
        if sample is not None and not 0 <= sample <= 1:
            raise ConfigError("sample", f"must be a number in [0, 1], got {sample!r}")


_NO_MORE = More()
"""What the common emitter hands to ``emit_more`` for a call that needs it only because it comes
from another thread."""


@dataclass(slots=True)
class Counts:
    """A hub's own counts: signals that passed the call filters, and those refused.

    The emitting path counts no emitted signal while the hub has a handler: every signal it
    emits is offered to the first handler, which counts what it is offered anyway (queued,
    dropped or filtered; see ``HandlerControl.offered``), so the hub reads its count there.
    Only a hub with no handler counts each signal itself (``direct``): those are dropped, for
    the reason ``no_handler``.
    """

    direct: int = 0
    refused: int = 0
    settled: int = 0
    """What handlers that no longer count for the hub had counted for it."""
    tellers: list[tuple[Handler, int]] = field(default_factory=list)
    """The handlers that counted for the hub, each with what it had been offered before."""

    @property
    def emitted(self) -> int:
        """Signals that passed the call filters so far (those still waiting for room in a
        queue are counted once they are queued or dropped, as a handler counts them)."""
        return self.direct + self.settled + sum(h.control.offered() - b for h, b in self.tellers)

    def count_by(self, first: Handler | None) -> None:
        """From now on, count what ``first`` (the first handler of a new plan, or ``None``)
        is offered. A handler that stops counting keeps its place until it is closed, so the
        signals still waiting for it when it stopped are counted when they settle."""
        kept = []
        for h, before in self.tellers:
            if h.control.state() == "closed" and h is not first:
                self.settled += h.control.offered() - before
            else:
                kept.append((h, before))
        if first is not None and not any(h is first for h, _ in kept):
            kept.append((first, first.control.offered()))
        self.tellers = kept

    def reset(self) -> None:
        """Start from zero (in a forked child, whose handlers start from zero too)."""
        self.direct = self.refused = self.settled = 0
        self.tellers = []


@dataclass(slots=True, kw_only=True)
class EmitPlan:
    """Everything the emitters of one configuration bind. ``open``: whether handlers take
    signals (else each one counts them as ``closed``); ``loop_thread``: the loop's thread, or
    ``None`` to deliver on whichever thread emits (no loop to hand over to)."""

    floor: int
    filters: Filters
    sites: Sites
    handlers: tuple[Handler, ...]
    open: bool
    loop_thread: int | None
    handoff: Callable[[Signal, int], bool] | None
    counts: Counts
    limiters: dict[str, RateLimiter]
    yes: Awaitable[bool]
    no: Awaitable[bool]
    hub: str = "hub"
    """The hub's name in the compiled functions' filenames (``hub3``)."""
    sources: set[str] = field(default_factory=set)
    """The filenames registered in ``linecache`` for this hub (see ``_emit_source``)."""
    debug: bool = False
    """Print each new source to stderr (``TELEMETRY_DEBUG_EMIT=1``)."""


class EmitTable(dict[object, "Emit[R] | Literal[False]"], Generic[R]):
    """Every spelling of a level to ``False`` (refuse) or its emitter; a level number of
    one's own is compiled on first use, and anything else is a ``ConfigError``.

    ``plain`` holds the same entries in a plain dict, whose look-up is the interpreter's
    fastest (a subclass's takes the generic path): the two busiest creators, ``log`` and
    ``log_nowait``, read it first and come here for a level it lacks."""

    __slots__ = ("_compile", "plain")

    def __init__(self, compile: Callable[[int], Emit[R] | Literal[False]]) -> None:
        super().__init__()
        self._compile = compile
        self.plain: dict[object, Emit[R] | Literal[False]] = {}

    def put(self, level: object, emit: Emit[R] | Literal[False]) -> None:
        """Set ``level``'s entry, in both dicts."""
        self[level] = self.plain[level] = emit

    def __missing__(self, level: object) -> Emit[R] | Literal[False]:
        if isinstance(level, bool) or not isinstance(level, int) or level < 0:
            raise ConfigError.choice("level", level, LEVEL_NAMES)
        emit = self._compile(level)
        if len(self) < len(LEVELS) + _CUSTOM_LEVELS_MAX:
            self.put(level, emit)
        return emit

    def swap(self, other: EmitTable[R]) -> None:
        """Take ``other``'s entries, in place: a reader sees the old or the new entry."""
        self._compile = other._compile
        for table in (self, self.plain):
            table.update(other)
            for key in [k for k in table if k not in other]:
                table.pop(key, None)


@dataclass(slots=True)
class Emitters:
    """A hub's compiled emitting path: level to the awaited emitter (or ``False``), the same
    for the ``*_nowait`` forms, dispatching a signal built elsewhere (no call filters; from any
    thread), and delivering on the loop a signal that another thread handed over."""

    table: EmitTable[Awaitable[bool]]
    table_nowait: EmitTable[bool]
    dispatch: Callable[[Signal, int], Awaitable[bool]]
    dispatch_nowait: Callable[[Signal, int], bool]
    deliver: Callable[[Signal, int], None]

    def swap(self, other: Emitters) -> None:
        """Take ``other``'s compiled functions, updating the tables in place (the module-level
        creators hold the default hub's tables)."""
        self.table.swap(other.table)
        self.table_nowait.swap(other.table_nowait)
        self.dispatch = other.dispatch
        self.dispatch_nowait = other.dispatch_nowait
        self.deliver = other.deliver


def text(value: object) -> str:
    """``str(value)`` that never raises: a message whose ``__str__`` fails becomes a
    placeholder naming its type, and the signal goes on."""
    try:
        return str(value)
    except Exception as exc:
        warn("message", f"a message's __str__ raised {exc!r}")
        try:
            name = type(value).__name__
        except Exception:  # pragma: no cover - a type whose name fails
            name = "object"
        return f"<unprintable {name}>"


def compile_emitters(plan: EmitPlan) -> Emitters:
    """The emitting path for ``plan``'s configuration."""

    async def wait_for(waits: list[Intake], sig: Signal) -> bool:
        for intake in waits:
            await intake.offer_wait(sig)
        return True

    def settle_now(waits: list[Intake], sig: Signal) -> bool:
        for intake in waits:
            intake.settle_nowait(sig)
        return True

    plan.counts.count_by(plan.handlers[0] if plan.handlers else None)
    base = _namespace(plan)
    offer = _build(plan, base, "offer", plan.yes, wait_for)
    offer_now = _build(plan, base, "offer_nowait", True, settle_now)
    # A parking offer settles every signal itself (Handler._offer_parking): nothing to wait for.
    deliver = _build(plan, base, "deliver", None, None, parking=True)
    dispatch = _build(plan, base, "dispatch", plan.yes, wait_for, offer=offer)
    dispatch_now = _build(plan, base, "dispatch_nowait", True, settle_now, offer=offer_now)

    def compile_level(lv: int) -> Emit[Awaitable[bool]] | Literal[False]:
        if lv < plan.floor:
            return False
        emit = _build(plan, base, "emit", plan.yes, wait_for, offer=offer, lv=lv, no=plan.no)
        return cast("Emit[Awaitable[bool]]", emit)

    def compile_level_now(lv: int) -> Emit[bool] | Literal[False]:
        if lv < plan.floor:
            return False
        emit = _build(plan, base, "emit_nowait", True, settle_now, offer=offer_now, lv=lv, no=False)
        return cast("Emit[bool]", emit)

    table: EmitTable[Awaitable[bool]] = EmitTable(compile_level)
    table_now: EmitTable[bool] = EmitTable(compile_level_now)
    for lv in LABEL_OF:
        emit, emit_now = compile_level(lv), compile_level_now(lv)
        for key, key_lv in LEVELS.items():
            if key_lv == lv:
                table.put(key, emit)
                table_now.put(key, emit_now)
    return Emitters(table, table_now, dispatch, dispatch_now, deliver)


# -- binding the compiled functions ------------------------------------------------------------
#
# Each function is generated from the stages its configuration needs (``_emit_source``),
# compiled once per distinct source, then bound to its own values (the handlers' queues, the
# level, the finished awaitables) by running the code in a fresh namespace.


def _namespace(plan: EmitPlan) -> dict[str, Any]:
    """What every compiled function of ``plan`` reads, as globals."""
    f = plan.filters
    ns: dict[str, Any] = {
        "__builtins__": __builtins__,
        "Signal": Signal,
        "getframe": sys._getframe,
        "site_at": plan.sites.by_offset.get,
        "resolve": plan.sites.resolve,
        "text": text,
        "error_info": error_info,
        "ErrorInfo": ErrorInfo,
        "scope_get": _scope.get,
        "otel_ctx": _otel.context_getter(),
        "OTEL_SPAN_KEY": _otel.span_key(),
        "OTEL_EMPTY": _otel.empty_context(),
        "from_otel": _otel.from_otel_span,
        "OTEL_OURS": _otel.ours(),
        "time_ns": time.time_ns,
        "spare": _spare_uids,
        "take_uid": _spare_uids.pop,
        "new_uid": new_uid,
        "get_ident": threading.get_ident,
        "current_thread": threading.current_thread,
        "random": _random,
        "counts": plan.counts,
        "RateLimiter": RateLimiter,
        "limiters": plan.limiters,
        "HOST": ProcessInfo.host,
        "PID": ProcessInfo.pid,
        "LOOP": plan.loop_thread,
        "handoff": plan.handoff,
        "ns_floors": _NamespaceFloors(f) if f.levels.per_namespace or f.ns else None,
        "filters": f,
        "taps": tuple(_taps.TAPS),
        "warn": warn,
        "wake": SignalQueue.wake_one,
        "NO_MORE": _NO_MORE,
        "More": More,
    }
    return ns


def _build(
    plan: EmitPlan,
    base: dict[str, Any],
    variant: str,
    done: object,
    settle: Callable[[list[Intake], Signal], object] | None,
    *,
    parking: bool = False,
    offer: Callable[..., Any] | None = None,
    lv: int = 0,
    no: object = None,
) -> Callable[..., Any]:
    """Generate, compile (once per source) and bind one function; ``variant`` says which:
    ``offer`` / ``offer_nowait`` (from the loop's thread), ``deliver`` (another thread's
    signals, ``parking``), ``dispatch`` / ``dispatch_nowait`` or ``emit`` / ``emit_nowait``."""
    what = variant.split("_")[0]
    namespace = dict(base, DONE=done, REFUSED=no, settle=settle, offer=offer, LV=lv)
    label = namespace["LABEL"] = LABEL_OF.get(lv) or str(lv)
    targets = _targets(plan, parking)
    for i, (intake, capacity, wants, full, _) in enumerate(targets):
        namespace.update(
            {f"items{i}": intake.items, f"max{i}": capacity, f"getters{i}": intake.waiting}
            | {f"wants{i}": wants, f"full{i}": full, f"intake{i}": intake}
        )
    shape = tuple(
        (capacity > 0, filter_stage(h, what == "emit", lv)) for _, capacity, _, _, h in targets
    )
    taps = bool(namespace["taps"])
    if what in ("offer", "deliver"):
        what = "offer"
        source = offer_source(shape, taps, parking)
    elif what == "dispatch":
        source = DISPATCH_SOURCE
    else:
        source = emitter_source(plan.filters, plan.loop_thread is not None, shape, taps)
    name = variant if what != "emit" else f"{variant} {label}"
    shown = "" if what == "dispatch" else f" [{shape_label(shape, taps)}]"
    filename = f"<telemetry {name} {plan.hub}{shown} {source_digest(source)}>"
    fn = compile_function(
        source, what, filename, namespace, registered=plan.sources, debug=plan.debug
    )
    if what == "emit":
        # A span's end (``Span.end``): the same level's emitter, given what the span knows.
        vars(fn)["span"] = namespace["emit_span"]
    return fn


def _targets(
    plan: EmitPlan, parking: bool
) -> list[tuple[Intake, int, Callable[..., bool] | None, Callable[[Signal], bool], Handler]]:
    """Per handler: its intake, the bound below which an append is taken (0: every signal
    goes through ``full``), its filter, what to call when the append is not taken, and the
    handler."""
    out = []
    for h in plan.handlers:
        intake = h.intake
        if not plan.open:
            full: Callable[[Signal], bool] = intake.refuse_closed
        elif parking:
            full = intake.offer_parking
        else:
            full = intake.offer_full
        # Parking (``deliver``), the append is taken too, while nothing is parked (see
        # ``_offer_lines``): a synchronous handler writes instead, in ``offer_parking``.
        plain = plan.open and not h.sync
        wants = intake.wants if h.filters is not None else None
        out.append((intake, intake.capacity if plain else 0, wants, full, h))
    return out


class _NamespaceFloors(dict[str | None, int]):
    """Namespace to the lowest level accepted from it: its own minimum level, or above every
    level when the namespace patterns refuse it. Filled on first use, at most 4,096 entries."""

    __slots__ = ("_filters",)

    def __init__(self, filters: Filters) -> None:
        super().__init__()
        self._filters = filters

    def __missing__(self, ns: str | None) -> int:
        f = self._filters
        floor = f.levels.level_for(ns) if f.ns.allows(ns) else _REFUSE_ALL
        if len(self) < _NS_CACHE_MAX:
            self[ns] = floor
        return floor
