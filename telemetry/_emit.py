"""The emitting path: one function per level, compiled for the hub's configuration.

There is one path from a creator to the queues, and this module is it. For each level a hub
accepts, :func:`compile_emitters` closes one function over everything the call will read (the
call-site cache, the handlers' queues, the finished awaitables, host and pid) and binds in only
the stages the configuration needs: per-namespace levels and namespace patterns (decided once
per namespace, then cached), kind and id patterns, sampling, ``when`` and rate limits, the
capture taps, each handler's own filters. A stage the configuration does not need is not
skipped at run time; it is not there. The hub recompiles whenever something bound here changes
(its state, handlers, filters, level, or the installed taps).

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
from collections.abc import Awaitable, Callable
from random import random as _random
from typing import Any, Generic, Literal, TypeVar

from . import _taps
from ._context import SpanContext, _ctx, _span
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


class More:
    """What a call says beyond ``log`` / ``event``: from ``signal()``, ``error()``, a span's end
    and the logging bridge. Built only on those paths; a ``None`` in its place costs nothing."""

    __slots__ = (
        "ctx",
        "duration_ns",
        "inst",
        "limit_by",
        "location",
        "ns",
        "rate_limit",
        "sample",
        "span",
        "task",
        "thread",
        "up",
    )

    def __init__(
        self,
        *,
        ctx: dict[str, Any] | None = None,
        ns: str | None = None,
        location: Location | None = None,
        sample: float | None = None,
        rate_limit: RateSpec = None,
        limit_by: object = None,
        up: int = 0,
        span: SpanContext | None = None,
        duration_ns: int | None = None,
        inst: int | None = None,
        thread: str | None = None,
        task: str | None = None,
    ) -> None:
        if sample is not None and not 0 <= sample <= 1:
            raise ConfigError("sample", f"must be a number in [0, 1], got {sample!r}")
        self.ctx = ctx
        self.ns = ns
        self.location = location
        self.sample = sample
        self.rate_limit = rate_limit
        self.limit_by = limit_by
        self.up = up
        self.span = span
        self.duration_ns = duration_ns
        self.inst = inst
        self.thread = thread
        self.task = task


class Counts:
    """A hub's own counts: signals that passed the call filters, and those refused."""

    __slots__ = ("emitted", "refused")

    def __init__(self) -> None:
        self.emitted = 0
        self.refused = 0


class Plan:
    """Everything the emitters of one configuration bind."""

    __slots__ = (
        "counts",
        "filters",
        "floor",
        "handlers",
        "handoff",
        "limiters",
        "loop_thread",
        "no",
        "open",
        "sites",
        "yes",
    )

    def __init__(
        self,
        *,
        floor: int,
        filters: Filters,
        sites: Sites,
        handlers: tuple[Handler, ...],
        open: bool,
        loop_thread: int | None,
        handoff: Callable[[Signal, int], bool] | None,
        counts: Counts,
        limiters: dict[str, RateLimiter],
        yes: Awaitable[bool],
        no: Awaitable[bool],
    ) -> None:
        self.floor = floor
        self.filters = filters
        self.sites = sites
        self.handlers = handlers
        #: Whether handlers take signals (else each one counts them as ``closed``).
        self.open = open
        #: The loop's thread; ``None``: deliver on whichever thread emits (no loop to hand to).
        self.loop_thread = loop_thread
        self.handoff = handoff
        self.counts = counts
        self.limiters = limiters
        self.yes = yes
        self.no = no


class EmitTable(dict[object, "Emit[R] | Literal[False]"], Generic[R]):
    """Every spelling of a level to ``False`` (refuse) or its emitter; a level number of
    one's own is compiled on first use, and anything else is a ``ConfigError``."""

    __slots__ = ("_compile",)

    def __init__(self, compile: Callable[[int], Emit[R] | Literal[False]]) -> None:
        super().__init__()
        self._compile = compile

    def __missing__(self, level: object) -> Emit[R] | Literal[False]:
        if isinstance(level, bool) or not isinstance(level, int) or level < 0:
            raise ConfigError.choice("level", level, _LEVEL_NAMES)
        emit = self._compile(level)
        if len(self) < len(LEVELS) + _CUSTOM_LEVELS_MAX:
            self[level] = emit
        return emit

    def swap(self, other: EmitTable[R]) -> None:
        """Take ``other``'s entries, in place: a reader sees the old or the new entry."""
        self._compile = other._compile
        self.update(other)
        for key in [k for k in self if k not in other]:
            self.pop(key, None)


class Emitters:
    """A hub's compiled emitting path."""

    __slots__ = ("deliver", "dispatch", "dispatch_nowait", "table", "table_nowait")

    def __init__(
        self,
        table: EmitTable[Awaitable[bool]],
        table_nowait: EmitTable[bool],
        dispatch: Callable[[Signal, int], Awaitable[bool]],
        dispatch_nowait: Callable[[Signal, int], bool],
        deliver: Callable[[Signal, int], None],
    ) -> None:
        #: Level to the awaited emitter, or ``False``.
        self.table = table
        #: Level to the ``*_nowait`` emitter, or ``False``.
        self.table_nowait = table_nowait
        #: Dispatch a built signal (no call filters), awaited / without waiting; any thread.
        self.dispatch = dispatch
        self.dispatch_nowait = dispatch_nowait
        #: On the loop: deliver a signal another thread handed over.
        self.deliver = deliver

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

    offer = _make_offer(plan, plan.yes, wait_for, parking=False)
    offer_now = _make_offer(plan, True, settle_now, parking=False)
    deliver = _make_offer(plan, None, None, parking=True)
    dispatch = _make_dispatch(plan, offer, plan.yes)
    dispatch_now = _make_dispatch(plan, offer_now, True)

    def compile_level(lv: int) -> Emit[Awaitable[bool]] | Literal[False]:
        return False if lv < plan.floor else _make_emitter(plan, lv, offer, plan.yes, plan.no)

    def compile_level_now(lv: int) -> Emit[bool] | Literal[False]:
        return False if lv < plan.floor else _make_emitter(plan, lv, offer_now, True, False)

    table: EmitTable[Awaitable[bool]] = EmitTable(compile_level)
    table_now: EmitTable[bool] = EmitTable(compile_level_now)
    for lv in LABEL_OF:
        emit, emit_now = compile_level(lv), compile_level_now(lv)
        for key, key_lv in LEVELS.items():
            if key_lv == lv:
                table[key] = emit
                table_now[key] = emit_now
    return Emitters(table, table_now, dispatch, dispatch_now, deliver)


def _make_offer(
    plan: Plan,
    done: R,
    settle: Callable[[list[Handler], Signal], R] | None,
    *,
    parking: bool,
) -> Callable[[Signal, int], R]:
    """On the loop's thread: count ``sig`` and give it to every handler that wants it.

    A handler with room takes it with one append; the others go through ``Handler._offer_full``
    and, when they say wait, through ``settle``. ``parking`` compiles the form for signals from
    other threads: each handler takes them through ``Handler._offer_parking``, in order."""
    counts = plan.counts
    wake = SignalQueue._wake
    taps = tuple(_taps.TAPS)
    targets = []
    for h in plan.handlers:
        wants = h._wants if h.filters is not None else None
        if not plan.open:
            full: Callable[[Signal], bool] = h._refuse_closed
        elif parking:
            full = h._offer_parking
        else:
            full = h._offer_full
        # A bound of 0 sends every signal through `full` (closed, synchronous, parking).
        plain = plan.open and not parking and not h.sync
        q = h._queue
        targets.append((q._items, q.maxsize if plain else 0, q._getters, wants, full, h))
    tgts = tuple(targets)

    def offer(sig: Signal, lv: int) -> R:
        counts.emitted += 1
        if taps:
            for tap in taps:
                try:
                    tap(sig)
                except Exception as exc:
                    warn("tap", f"a capture tap raised {exc!r}")
        waits: list[Handler] | None = None
        for items, maxsize, getters, wants, full, h in tgts:
            if wants is not None and not wants(sig, lv):
                continue
            if len(items) < maxsize:
                items.append(sig)
                if getters:
                    wake(getters)
            elif not full(sig):
                waits = [h] if waits is None else [*waits, h]
        if waits is None or settle is None:
            return done
        return settle(waits, sig)

    return offer


def _make_dispatch(
    plan: Plan, offer: Callable[[Signal, int], R], done: R
) -> Callable[[Signal, int], R]:
    """Dispatch a signal built elsewhere: offer it on the loop's thread, or hand it over."""
    loop_thread = plan.loop_thread
    handoff = plan.handoff
    get_ident = threading.get_ident

    def dispatch(sig: Signal, lv: int) -> R:
        away = loop_thread is not None and get_ident() != loop_thread
        if away and handoff is not None and handoff(sig, lv):
            return done
        return offer(sig, lv)

    return dispatch


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


def _make_emitter(
    plan: Plan, lv: int, offer: Callable[[Signal, int], R], done: R, refused: R
) -> Emit[R]:
    """One level's emitter: ``emit(kind, id, msg, data, error=None, more=None)``, called by the
    creator that the application called. Returns ``done`` (or what ``offer`` returns) once the
    signal is offered, ``refused`` when a call filter refuses it."""
    f = plan.filters
    counts = plan.counts
    label = LABEL_OF.get(lv) or str(lv)
    sites = plan.sites
    cache_get = sites.cache.get
    resolve = sites.resolve
    host = ProcessInfo.host
    pid = ProcessInfo.pid
    loop_thread = plan.loop_thread
    handoff = plan.handoff
    limiters = plan.limiters
    # The stages of this configuration; None where it has none.
    ns_floors = _NamespaceFloors(f) if f.levels.per_namespace or f.ns else None
    names = f if (f.kind or f.id) else None
    sampling = f if f.sample is not None else None
    built = f if f.post_build else None
    get_ident = threading.get_ident
    current_thread = threading.current_thread
    getframe = sys._getframe
    time_ns = time.time_ns
    spare = _spare_uids
    take_uid = spare.pop
    ctx_get = _ctx.get
    span_get = _span.get
    id_of = id

    def emit(
        kind: str,
        id: str | None,
        msg: object,
        data: dict[str, Any],
        error: BaseException | ErrorInfo | None = None,
        more: More | None = None,
    ) -> R:
        # The call site: frame 1 is the creator, 2 its caller (resolve() skips further frames
        # of the library's own, for creators that forward).
        frame = getframe(2)
        if more is None:
            code = frame.f_code
            site = cache_get(id_of(code) ^ (frame.f_lasti << 52))
            if site is None or site[2] is not code:
                site = resolve(frame)
            ns = site[0]
            loc = site[1]
            ctx = ctx_get()
            inst = time_ns()
            span = span_get()
            parent_id = duration_ns = sample = thread = task = None
        else:
            if more.sample is not None and more.sample < 1 and _random() >= more.sample:
                counts.refused += 1
                return refused
            if more.location is None or more.ns is None:
                site = resolve(frame, more.up)
                ns = site[0] if more.ns is None else more.ns
                loc = site[1] if more.location is None else more.location
            else:
                ns, loc = more.ns, more.location
            ctx = ctx_get()
            if more.ctx:
                ctx = {**ctx, **{text(k): v for k, v in more.ctx.items()}}
            inst = time_ns() if more.inst is None else more.inst
            span = span_get() if more.span is None else more.span
            parent_id = None if more.span is None else more.span.parent_id
            duration_ns, sample = more.duration_ns, more.sample
            thread, task = more.thread, more.task
        if ns_floors is not None and lv < ns_floors[ns]:
            counts.refused += 1
            return refused
        if names is not None or sampling is not None:
            try:
                ok = (names is None or (names.kind.allows(kind) and names.id.allows(id))) and (
                    sampling is None or not sampling.sampled_out(lv, kind)
                )
            except Exception as exc:  # a pattern or a predicate of the user's blew up
                warn("filters", f"a call filter raised {exc!r}")
                ok = False
            if not ok:
                counts.refused += 1
                return refused
        if type(msg) is not str and msg is not None:
            msg = text(msg)
        if error is not None and type(error) is not ErrorInfo:
            error = error_info(error)  # type: ignore[arg-type]
        try:  # new_uid(), inlined for the common case: a spare one
            uid = take_uid() if spare else new_uid()
        except IndexError:  # another thread took the last spare meanwhile
            uid = new_uid()
        away = loop_thread is not None and get_ident() != loop_thread
        if away and thread is None:
            thread = current_thread().name
        # Positional, in field order: see the note on Signal.
        sig = Signal(
            inst,
            uid,
            kind,
            label,
            host,
            pid,
            id,
            ns,
            msg,
            data,
            ctx,
            loc,
            None if span is None else span.trace_id,
            None if span is None else span.span_id,
            error,
            parent_id,
            duration_ns,
            sample,
            thread,
            task,
        )
        if built is not None:
            try:
                ok = built.allows_built(sig)
            except Exception as exc:
                warn("filters", f"a call filter raised {exc!r}")
                ok = False
            if not ok:
                counts.refused += 1
                return refused
        if more is not None and more.rate_limit is not None:
            rate = more.rate_limit
            spec = rate if isinstance(rate, str) else ",".join(rate)
            limiter = limiters.get(spec)
            if limiter is None:
                limiter = limiters[spec] = RateLimiter(rate)
            if not limiter.allow((id or (loc and (loc.file, loc.line)), more.limit_by)):
                counts.refused += 1
                return refused
        if away and handoff is not None and handoff(sig, lv):
            return done
        return offer(sig, lv)

    return emit
