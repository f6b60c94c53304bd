"""The emitting path: one function per level, compiled for the hub's configuration.

There is one path from a creator to the queues, and this module is it. For each level a hub
accepts, :func:`compile_emitters` generates one function from the stages the configuration
needs (per-namespace levels and namespace patterns, decided once per namespace and cached;
kind and id patterns; sampling; ``when`` and rate limits; the capture taps; each handler's own
filters, a plain level among them decided when compiling; one inline append per handler) and
binds to it everything the call reads (the call-site cache, the handlers' queues, the finished
awaitables, host and pid) as globals. A stage the configuration does not need is not skipped
at run time; it is not there. The hub recompiles whenever something bound here changes (its
state, handlers, filters, level, or the installed taps).

An emitter finds its call site, builds one :class:`Signal` and hands it to an *offer*: on the
loop's thread the offer appends to each handler's queue when there is room and otherwise asks
the handler (``Handler._offer_full``: evict, drop, or wait, as its mode says); a signal built on
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
from typing import Any, Generic, Literal, TypeVar

from . import _otel, _taps
from ._context import SpanContext, _scope
from ._errors import ConfigError
from ._filters import Filters, RateLimiter, RateSpec
from ._handler import Handler
from ._queue import SignalQueue
from ._signal import (
    LABEL_OF,
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

__all__ = ["Counts", "Emit", "EmitTable", "Emitters", "More", "Plan", "compile_emitters", "text"]

R = TypeVar("R")
_LEVEL_NAMES = ("trace", "debug", "info", "warn", "error", "fatal")
_REFUSE_ALL = 1 << 30
_NS_CACHE_MAX = 4096
_CUSTOM_LEVELS_MAX = 64

#: ``emit(kind, id, msg, data, error=None, more=None)``; ``data`` is adopted as it is.
Emit = Callable[..., R]


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


#: What the common emitter hands to ``emit_more`` for a call that needs it only because it
#: comes from another thread.
_NO_MORE = More()


@dataclass(slots=True)
class Counts:
    """A hub's own counts: signals that passed the call filters, and those refused.

    The emitting path counts no emitted signal while the hub has a handler: every signal it
    emits is offered to the first handler, which counts what it is offered anyway (queued,
    dropped or filtered; see ``Handler._offered``), so the hub reads its count there. Only a
    hub with no handler counts each signal itself (``direct``): those are dropped, for the
    reason ``no_handler``.
    """

    direct: int = 0
    refused: int = 0
    #: What handlers that no longer count for the hub had counted for it.
    settled: int = 0
    #: The handlers that counted for the hub, each with what it had been offered before.
    tellers: list[tuple[Handler, int]] = field(default_factory=list)

    @property
    def emitted(self) -> int:
        """Signals that passed the call filters so far (those still waiting for room in a
        queue are counted once they are queued or dropped, as a handler counts them)."""
        return self.direct + self.settled + sum(h._offered - b for h, b in self.tellers)

    def count_by(self, first: Handler | None) -> None:
        """From now on, count what ``first`` (the first handler of a new plan, or ``None``)
        is offered. A handler that stops counting keeps its place until it is closed, so the
        signals still waiting for it when it stopped are counted when they settle."""
        kept = []
        for h, before in self.tellers:
            if h._state == "closed" and h is not first:
                self.settled += h._offered - before
            else:
                kept.append((h, before))
        if first is not None and not any(h is first for h, _ in kept):
            kept.append((first, first._offered))
        self.tellers = kept

    def reset(self) -> None:
        """Start from zero (in a forked child, whose handlers start from zero too)."""
        self.direct = self.refused = self.settled = 0
        self.tellers = []


@dataclass(slots=True, kw_only=True)
class Plan:
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
            raise ConfigError.choice("level", level, _LEVEL_NAMES)
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


def compile_emitters(plan: Plan) -> Emitters:
    """The emitting path for ``plan``'s configuration."""

    async def wait_for(waits: list[Handler], sig: Signal) -> bool:
        for h in waits:
            await h._offer_wait(sig)
        return True

    def settle_now(waits: list[Handler], sig: Signal) -> bool:
        for h in waits:
            h._settle_nowait(sig)
        return True

    plan.counts.count_by(plan.handlers[0] if plan.handlers else None)
    base = _namespace(plan)
    offer = _build(plan, base, "offer", plan.yes, wait_for, parking=False)
    offer_now = _build(plan, base, "offer", True, settle_now, parking=False)
    # A parking offer settles every signal itself (Handler._offer_parking): nothing to wait for.
    deliver = _build(plan, base, "offer", None, None, parking=True)
    dispatch = _build(plan, base, "dispatch", plan.yes, wait_for, offer=offer)
    dispatch_now = _build(plan, base, "dispatch", True, settle_now, offer=offer_now)

    def compile_level(lv: int) -> Emit[Awaitable[bool]] | Literal[False]:
        if lv < plan.floor:
            return False
        return _build(plan, base, "emit", plan.yes, wait_for, offer=offer, lv=lv, no=plan.no)

    def compile_level_now(lv: int) -> Emit[bool] | Literal[False]:
        if lv < plan.floor:
            return False
        return _build(plan, base, "emit", True, settle_now, offer=offer_now, lv=lv, no=False)

    table: EmitTable[Awaitable[bool]] = EmitTable(compile_level)
    table_now: EmitTable[bool] = EmitTable(compile_level_now)
    for lv in LABEL_OF:
        emit, emit_now = compile_level(lv), compile_level_now(lv)
        for key, key_lv in LEVELS.items():
            if key_lv == lv:
                table.put(key, emit)
                table_now.put(key, emit_now)
    return Emitters(table, table_now, dispatch, dispatch_now, deliver)


# -- the source of the compiled functions -----------------------------------------------------
#
# Each function is generated from the stages its configuration needs and compiled once per
# distinct source (the cache below), then bound to its own values (the handlers' queues, the
# level, the finished awaitables) by executing the code object in a fresh namespace. Nothing of
# the user's reaches the source: only the shape of the configuration does.

_SOURCE_CACHE: dict[str, Any] = {}
#: Distinct sources kept compiled; past it the cache starts again (a hub whose handlers keep
#: changing makes a new shape each time).
_SOURCE_CACHE_MAX = 256


def _namespace(plan: Plan) -> dict[str, Any]:
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
        "attached_get": _otel.attached_get,
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
        "wake": SignalQueue._wake,
        "NO_MORE": _NO_MORE,
    }
    return ns


def _build(
    plan: Plan,
    base: dict[str, Any],
    what: Literal["offer", "dispatch", "emit"],
    done: object,
    settle: Callable[[list[Handler], Signal], object] | None,
    *,
    parking: bool = False,
    offer: Callable[..., Any] | None = None,
    lv: int = 0,
    no: object = None,
) -> Callable[..., Any]:
    """Generate, compile (once per source) and bind one function: ``offer`` (from the loop's
    thread, or ``parking`` for another thread's signals), ``dispatch`` or ``emit``."""
    namespace = dict(base, DONE=done, REFUSED=no, settle=settle, offer=offer, LV=lv)
    namespace["LABEL"] = LABEL_OF.get(lv) or str(lv)
    targets = _targets(plan, parking)
    for i, (items, maxsize, getters, wants, full, h) in enumerate(targets):
        namespace.update(
            {f"items{i}": items, f"max{i}": maxsize, f"getters{i}": getters}
            | {f"wants{i}": wants, f"full{i}": full, f"h{i}": h}
        )
    shape = tuple(
        (maxsize > 0, _filter_stage(h, what == "emit", lv)) for _, maxsize, _, _, _, h in targets
    )
    if what == "offer":
        source = _offer_source(shape, bool(namespace["taps"]))
    elif what == "dispatch":
        source = _DISPATCH_SOURCE
    else:
        source = _emitter_source(plan, shape, bool(namespace["taps"]))
    code = _SOURCE_CACHE.get(source)
    if code is None:
        if len(_SOURCE_CACHE) >= _SOURCE_CACHE_MAX:
            _SOURCE_CACHE.clear()
        code = _SOURCE_CACHE[source] = compile(source, f"<telemetry {what}>", "exec")
    exec(code, namespace)
    fn: Callable[..., Any] = namespace[what]
    return fn


def _targets(
    plan: Plan, parking: bool
) -> list[tuple[Any, int, Any, Callable[..., bool] | None, Callable[[Signal], bool], Handler]]:
    """Per handler: its queue's items, the bound below which an append is taken (0: every
    signal goes through ``full``), the idle workers, its filter, what to call when the append
    is not taken, and the handler."""
    out = []
    for h in plan.handlers:
        if not plan.open:
            full: Callable[[Signal], bool] = h._refuse_closed
        elif parking:
            full = h._offer_parking
        else:
            full = h._offer_full
        plain = plan.open and not parking and not h.sync
        q = h._queue
        wants = h._wants if h.filters is not None else None
        out.append((q._items, q.maxsize if plain else 0, q._getters, wants, full, h))
    return out


_DISPATCH_SOURCE = """
def dispatch(sig, lv):
    if LOOP is not None and handoff is not None and get_ident() != LOOP and handoff(sig, lv):
        return DONE
    return offer(sig, lv)
"""


#: Per handler: whether appends are taken inline, and its filter stage ("none", "check" at run
#: time, or "refuse": decided when compiling).
Shape = tuple[tuple[bool, str], ...]


def _filter_stage(h: Handler, level_known: bool, lv: int) -> str:
    """A handler whose only filter is a level is decided when an emitter is compiled for a
    level: the check is not there at run time (what it refuses is still counted)."""
    if h.filters is None:
        return "none"
    if level_known and not h.filters.active:
        return "none" if lv >= h.filters.levels.floor else "refuse"
    return "check"


def _offer_lines(shape: Shape, taps: bool, level: str) -> list[str]:
    """Count the signal, show it to the taps, give it to every handler; end by returning."""
    # With a handler, the first one counts what the hub emits (Counts).
    lines = [] if shape else ["counts.direct += 1"]
    if taps:
        lines += [
            "for tap in taps:",
            "    try:",
            "        tap(sig)",
            "    except Exception as exc:",
            "        warn('tap', f'a capture tap raised {exc!r}')",
        ]
    if not shape:
        return [*lines, "return DONE"]
    single = len(shape) == 1
    if not single:
        lines.append("waits = None")
    for i, (appends, stage) in enumerate(shape):
        pad = ""
        if stage == "refuse":
            lines.append(f"h{i}._filtered += 1")
            continue
        if stage == "check":
            lines.append(f"if wants{i}(sig, {level}):")
            pad = "    "
        wait = (
            "return settle([h0], sig)"
            if single
            else f"waits = [h{i}] if waits is None else [*waits, h{i}]"
        )
        if appends:
            lines += [
                f"{pad}if len(items{i}) < max{i}:",
                f"{pad}    items{i}.append(sig)",
                f"{pad}    if getters{i}:",
                f"{pad}        wake(getters{i})",
                f"{pad}elif not full{i}(sig):",
                f"{pad}    {wait}",
            ]
        else:
            lines += [f"{pad}if not full{i}(sig):", f"{pad}    {wait}"]
    if single:
        return [*lines, "return DONE"]
    return [*lines, "return DONE if waits is None else settle(waits, sig)"]


def _offer_source(shape: Shape, taps: bool) -> str:
    body = _offer_lines(shape, taps, "lv")
    return "def offer(sig, lv):\n" + "".join(f"    {line}\n" for line in body)


def _emitter_source(plan: Plan, shape: Shape, taps: bool) -> str:
    """Two functions: ``emit`` for the common call (the loop's thread, no error, no options
    beyond ``log`` / ``event``), which builds and offers the signal inline, and ``emit_more``
    for the rest (``signal()``, ``error()``, spans, bridges, other threads), which it hands
    to."""
    f = plan.filters
    refuse = ["    counts.refused += 1", "    return REFUSED"]
    # The call filters past the level, each only if configured; `ns` and `sig` are bound.
    before: list[str] = []
    if f.levels.per_namespace or f.ns:
        before += ["if LV < ns_floors[ns]:", *refuse]
    if f.kind or f.id or f.sample is not None:
        checks = []
        if f.kind:
            checks.append("filters.kind.allows(kind)")
        if f.id:
            checks.append("filters.id.allows(id)")
        if f.sample is not None:
            checks.append("not filters.sampled_out(LV, kind)")
        before += _guarded(" and ".join(checks))
    after = _guarded("filters.allows_built(sig)") if f.post_build else []
    # Without a loop (the stderr fallback) every thread delivers itself: no thread check.
    on_loop = "" if plan.loop_thread is None else " or get_ident() != LOOP"
    common = [
        f"if more is not None or error is not None{on_loop}:",
        "    return emit_more(kind, id, msg, data, error, NO_MORE if more is None else more)",
        # The call site: frame 1 is the creator, 2 its caller; resolve() skips further
        # frames of the library's own, for creators that forward.
        "frame = getframe(2)",
        "site = site_at(frame.f_lasti)  # Sites.by_offset",
        "if site is None or site[2] is not frame.f_code:",
        "    site = resolve(frame)",
        "ns = site[0]",
        *before,
        *_VALUE_LINES,
        "scope = scope_get()  # (ctx, trace id, span id, span)",
        *_otel_lines(),
        "sig = Signal(time_ns(), uid, kind, LABEL, HOST, PID, id, ns, msg, data, scope[0],"
        " site[1], scope[1], scope[2])",
        *after,
        *_offer_lines(shape, taps, "LV"),
    ]
    more = [
        "if more.sample is not None and more.sample < 1 and random() >= more.sample:",
        *refuse,
        "if more.location is None or more.ns is None:",
        "    site = resolve(getframe(2), more.up)",
        "    ns = site[0] if more.ns is None else more.ns",
        "    loc = site[1] if more.location is None else more.location",
        "else:",
        "    ns, loc = more.ns, more.location",
        *before,
        *_VALUE_LINES,
        "if error is not None and type(error) is not ErrorInfo:",
        "    error = error_info(error)",
        "scope = scope_get()",
        *_otel_lines(),
        "ctx = scope[0]",
        "if more.ctx:",
        "    ctx = {**ctx, **{text(k): v for k, v in more.ctx.items()}}",
        "span = scope[3] if more.span is None else more.span",
        "away = LOOP is not None and get_ident() != LOOP",
        "thread = current_thread().name if away and more.thread is None else more.thread",
        "sig = Signal(time_ns() if more.inst is None else more.inst, uid, kind, LABEL, HOST, PID,"
        " id, ns, msg, data, ctx, loc, None if span is None else span.trace_id,"
        " None if span is None else span.span_id, error,"
        " None if more.span is None else more.span.parent_id, more.duration_ns, more.sample,"
        " thread, more.task)",
        *after,
        "if more.rate_limit is not None:",
        "    rate = more.rate_limit",
        "    spec = rate if isinstance(rate, str) else ','.join(rate)",
        "    limiter = limiters.get(spec)",
        "    if limiter is None:",
        "        limiter = limiters[spec] = RateLimiter(rate)",
        "    if not limiter.allow((id or (loc and (loc.file, loc.line)), more.limit_by)):",
        *[f"    {line}" for line in refuse],
        "if away and handoff is not None and handoff(sig, LV):",
        "    return DONE",
        "return offer(sig, LV)",
    ]
    head = "(kind, id, msg, data, error=None, more=None):\n"
    return (
        "def emit"
        + head
        + "".join(f"    {line}\n" for line in common)
        + "def emit_more"
        + head
        + "".join(f"    {line}\n" for line in more)
    )


def _otel_lines() -> list[str]:
    """With opentelemetry-api installed: OpenTelemetry's current span, unless it is the one
    that stands for ours (then ours, or none, is the innermost), replaces the scope's trace and
    span ids. One C call when nothing was ever attached to OpenTelemetry's context (its
    default context is known by identity); see ``_otel``."""
    if not _otel.available():
        return []
    return [
        "otel = otel_ctx()",
        "if otel is not OTEL_EMPTY:",
        "    otel = otel.get(OTEL_SPAN_KEY)",
        "    if otel is not None and otel is not attached_get():",
        "        otel = from_otel(otel)",
        "        if otel is not None:",
        "            scope = (scope[0], otel.trace_id, otel.span_id, otel)",
    ]


#: The message and the uid: the same for every emitter.
_VALUE_LINES = [
    "if type(msg) is not str and msg is not None:",
    "    msg = text(msg)",
    "if spare:  # new_uid(), inlined for the common case: a spare one",
    "    try:",
    "        uid = take_uid()",
    "    except IndexError:  # another thread took the last spare meanwhile",
    "        uid = new_uid()",
    "else:",
    "    uid = new_uid()",
]


def _guarded(check: str) -> list[str]:
    """A call filter of the user's that may raise: a failure refuses the signal and warns."""
    return [
        "try:",
        f"    ok = {check}",
        "except Exception as exc:  # a pattern or a predicate of the user's blew up",
        "    warn('filters', f'a call filter raised {exc!r}')",
        "    ok = False",
        "if not ok:",
        "    counts.refused += 1",
        "    return REFUSED",
    ]


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
