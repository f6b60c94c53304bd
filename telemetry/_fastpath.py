"""The emitting path compiled for the common case.

``log`` and ``event`` are most of what an application emits, and most hubs run in the common
configuration: locations on, no call filter past the level but per-namespace levels and the
namespace patterns (both decided once per namespace, then cached), handlers without filters of
their own and not synchronous. For such a hub :func:`compile_fast` builds one function per
level that does what the general path (``Dispatcher._build`` or ``_quick``, then
``Dispatcher._dispatch``) does for those calls, with everything it reads bound in advance: no
attribute look-up on the hub or its handlers, no method call, one length check and one append
per handler.

The table holds every spelling of every level: ``False`` below the hub's floor, else the
compiled emitter, or ``None`` when the configuration needs the general path. One subscript
tells a creator what to do (a level the table lacks, such as a custom number, goes the general
way too). The hub recompiles whenever something bound here changes (its state, its handlers,
its filters, its level), in place, so that the module-level creators keep one reference to the
table. The emitter itself hands a call to the general path when it needs more: another thread,
a capture tap; and a full queue to ``Handler.offer``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._context import _ctx, _span
from ._handler import Handler
from ._queue import SignalQueue
from ._signal import LABEL_OF, LEVELS, ProcessInfo, Signal, _spare_uids, new_uid

if TYPE_CHECKING:
    from collections import deque

    from ._dispatch import Dispatcher
    from ._filters import Filters

__all__ = [
    "FastEmit",
    "FastEmitNowait",
    "FastTable",
    "FastTableNowait",
    "FastTables",
    "compile_fast",
]

R = TypeVar("R")

#: ``emit(kind, id, msg, data)``: ``data`` is adopted (a fresh ``**kwargs`` dict); called
#: directly by the creator that the user called, for the call site two frames up.
FastEmit = Callable[[str, "str | None", object, "dict[str, Any]"], Awaitable[bool]]
#: The same for the ``*_nowait`` creators: returns ``True`` (the signal passed the filters).
FastEmitNowait = Callable[[str, "str | None", object, "dict[str, Any]"], bool]

#: Every spelling of a level to ``False`` (below the floor: refuse), its compiled emitter, or
#: ``None`` (take the general path).
FastTable = dict[object, "FastEmit | Literal[False] | None"]
FastTableNowait = dict[object, "FastEmitNowait | Literal[False] | None"]
#: A hub's two tables: for the awaited creators, and for the ``*_nowait`` ones.
FastTables = tuple[FastTable, FastTableNowait]

_Target = tuple[Handler, "deque[Signal]", int, "deque[Any]"]


def compile_fast(hub: Dispatcher) -> FastTables:
    """The hub's tables: ``False`` for every spelling of a level below its floor; for the
    others, the compiled emitter when the hub's configuration allows one, else ``None``."""
    floor = hub._floor
    table: FastTable = {key: False if lv < floor else None for key, lv in LEVELS.items()}
    table_nowait: FastTableNowait = dict(table)  # type: ignore[arg-type]
    f = hub._filters
    if (
        hub._state != "open"
        or hub._loop is None
        or not hub._active
        or not hub.location
        or f.post_build  # when, rate limit
        or f.sample is not None
        or f.kind
        or f.id
    ):
        return table, table_nowait
    targets: list[_Target] = []
    for h in hub._active:
        if h.filters is not None or h.sync or not h.accepting:
            return table, table_nowait
        q = h.queue
        targets.append((h, q._items, q.maxsize, q._getters))
    tgts = tuple(targets)
    ns_floors = _NamespaceFloors(f) if f.levels.per_namespace or f.ns else None

    def settle_now(waits: list[Handler], sig: Signal) -> bool:
        hub._settle_nowait(waits, sig)  # a *_nowait call never waits: full means dropped
        return True

    for lv in LABEL_OF:
        if lv < floor:
            continue
        emit = _emitter(hub, lv, tgts, ns_floors, hub._emit_kw, hub._yes, hub._no, hub._wait_for)
        emit_nowait = _emitter(
            hub, lv, tgts, ns_floors, hub._emit_kw_nowait, True, False, settle_now
        )
        for key, key_lv in LEVELS.items():
            if key_lv == lv:
                table[key] = emit
                table_nowait[key] = emit_nowait
    return table, table_nowait


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


_REFUSE_ALL = 1 << 30
_NS_CACHE_MAX = 4096


def _emitter(
    hub: Dispatcher,
    lv: int,
    targets: tuple[_Target, ...],
    ns_floors: _NamespaceFloors | None,
    general: Callable[[int, str, str | None, object, None, dict[str, Any], int], R],
    done: R,
    refused: R,
    settle: Callable[[list[Handler], Signal], R],
) -> Callable[[str, str | None, object, dict[str, Any]], R]:
    """One level's emitter. ``done`` is what it returns once every handler took the signal,
    ``refused`` what it returns when the namespace's level or patterns refuse it (with
    ``ns_floors``: see :class:`_NamespaceFloors`); ``settle`` deals with the handlers that
    could not take it (``Dispatcher._wait_for``, or a drop for the ``*_nowait`` forms);
    ``general`` is the general path, for other threads and taps."""
    # Everything the call reads, as closure cells (cheaper to read than attributes).
    label = LABEL_OF[lv]
    loop_thread = hub._thread_id
    sites_get = hub._sites.get
    site_of = hub._site
    host = ProcessInfo.host
    pid = ProcessInfo.pid
    from ._dispatch import TAPS as taps

    wake = SignalQueue._wake
    get_ident = threading.get_ident
    getframe = sys._getframe
    time_ns = time.time_ns
    spare = _spare_uids
    take_uid = spare.pop
    ctx_get = _ctx.get
    span_get = _span.get
    id_of = id
    (h0, items0, max0, getters0), *others = targets
    rest = tuple(others)

    def emit(kind: str, id: str | None, msg: object, data: dict[str, Any]) -> R:
        if get_ident() != loop_thread or taps:
            return general(lv, kind, id, msg, None, data, 3)
        # The call site (see Dispatcher._site): frame 1 is the creator, 2 its caller.
        frame = getframe(2)
        code = frame.f_code
        site = sites_get(id_of(code) ^ (frame.f_lasti << 52))
        if site is None or site[2] is not code:
            ns, loc = site_of(2)
        else:
            ns, loc = site[0], site[1]
        if ns_floors is not None and lv < ns_floors[ns]:
            hub.refused += 1
            return refused
        if type(msg) is not str and msg is not None:
            msg = str(msg)
        span = span_get()
        try:  # new_uid(), inlined for the common case: a spare one
            uid = take_uid() if spare else new_uid()
        except IndexError:  # another thread took the last spare meanwhile
            uid = new_uid()
        sig = Signal(
            time_ns(),
            uid,
            kind,
            label,
            host,
            pid,
            id,
            ns,
            msg,
            data,
            ctx_get(),
            loc,
            None if span is None else span.trace_id,
            None if span is None else span.span_id,
        )
        hub.emitted += 1
        # The first handler inline (most hubs have one), then the others in a loop. A full
        # queue goes through Handler.offer: evict, drop or (blocking) wait, as the mode says.
        waits: list[Handler] | None = None
        if len(items0) < max0:
            items0.append(sig)
            if getters0:
                wake(getters0)
            if not rest:
                return done
        elif not h0.offer(sig):
            waits = [h0]
        for h, items, maxsize, getters in rest:
            if len(items) < maxsize:
                items.append(sig)
                if getters:
                    wake(getters)
            elif not h.offer(sig):
                waits = [h] if waits is None else [*waits, h]
        if waits is None:
            return done
        return settle(waits, sig)

    return emit
