"""The emitting path: call sites, call filters, building a signal, and offering it to handlers.

The cost on the caller, in order: the per-call-site cache gives the module name and location;
the remaining call filters run; one :class:`Signal` is built; each handler's filters run and the
signal is appended to its queue. Encoding and I/O happen later, in the workers.

Threads: a hub belongs to the event loop it was opened on. A signal emitted on another thread
is built there (so that thread's context and span are captured) and appended to a thread-safe
inbox; the first append after the loop last looked schedules one ``call_soon_threadsafe`` that
dispatches everything in it. A blocking handler whose queue is full parks such signals, in
order, until there is room; when the loop falls far behind, the emitting *thread* waits (the
loop never does).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Mapping
from random import random as _rand
from types import CodeType
from typing import Any, Generic, Literal, TypeVar

from anyio.abc import TaskGroup

from ._context import SpanContext, _ctx, _span
from ._errors import ConfigError
from ._fastpath import FastTable, FastTableNowait, compile_fast
from ._filters import Filters, RateLimiter, RateSpec
from ._handler import Handler
from ._signal import LABEL_OF, ErrorInfo, Location, ProcessInfo, Signal, error_info, new_uid
from ._warn import warn

__all__ = ["REFUSED", "TAPS", "Dispatcher", "Ready"]

T = TypeVar("T")
_SITE_CACHE_MAX = 8192
_time_ns = time.time_ns
_get_ident = threading.get_ident
_getframe = sys._getframe
_id_of = id  # _build has a parameter named id
_refresh_lock = threading.Lock()


def _new_refresh_lock() -> None:
    # A forked child has only the forking thread: a lock held by another one stays held.
    global _refresh_lock
    _refresh_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_refresh_lock)


class Ready(Generic[T]):
    """An awaitable that is already done: what a creator returns when it refuses a signal
    outright. Cheaper than starting a coroutine just to return a value."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, T]:
        yield from ()
        return self.value


REFUSED: Ready[bool] = Ready(False)

#: Callables that see every signal every hub dispatches, synchronously, before any handler
#: (``telemetry.testing.capture_signals`` uses this). Empty in production: one truth test.
TAPS: list[Callable[[Signal], None]] = []


class Dispatcher:
    """The hub's emitting machinery (a base class of :class:`~telemetry.Telemetry`)."""

    _state: Literal["new", "open", "closing", "closed"]
    #: Each level's refusal or compiled emitter for this hub's current configuration (see
    #: telemetry._fastpath); updated in place.
    _fast: FastTable
    _fast_nowait: FastTableNowait
    location: bool
    #: No call filter past the level and locations on: the creators may use :meth:`_quick`.
    _plain: bool
    emitted: int
    refused: int
    _filters: Filters
    _floor: int
    _active: tuple[Handler, ...]
    _sites: dict[int, tuple[str | None, Location | None, CodeType]]
    _call_limiters: dict[str, RateLimiter]
    _loop: asyncio.AbstractEventLoop | None
    _thread_id: int
    _tg: TaskGroup | None
    _inbox: deque[tuple[Signal, int]]
    _inbox_scheduled: bool
    _inbox_limit: int
    _overflow: dict[str, deque[Signal]]
    _overflow_len: int
    _room: threading.Event
    #: Finished awaitables returned by the creators: done futures once the hub is open (the
    #: cheapest thing to await), ``Ready`` objects before.
    _yes: Awaitable[bool]
    _no: Awaitable[bool]

    @property
    def state(self) -> Literal["new", "open", "closing", "closed"]:
        """``new``, ``open``, ``closing`` or ``closed``."""
        return self._state

    @state.setter
    def state(self, value: Literal["new", "open", "closing", "closed"]) -> None:
        self._state = value
        self._refresh_fast()

    def _refresh_fast(self) -> None:
        """Recompile the emitters; call after any change to what they bind.

        ``set_min_level`` may call this from another thread while the loop's thread does (a
        handler added): compiling and swapping under one lock makes the last swap the one
        compiled from the latest state. Readers take no lock: a look-up between the two steps
        of the swap finds no entry and takes the general path, which is always right."""
        with _refresh_lock:
            fast, fast_nowait = compile_fast(self)
            self._fast.clear()
            self._fast.update(fast)
            self._fast_nowait.clear()
            self._fast_nowait.update(fast_nowait)

    def _build(
        self,
        lv: int,
        msg: object,
        kind: str,
        id: str | None,
        data: Mapping[Any, Any] | None,
        ctx: Mapping[Any, Any] | None,
        error: BaseException | ErrorInfo | None,
        ns: str | None,
        sample: float | None,
        rate_limit: RateSpec,
        limit_by: object,
        depth: int,
        copy_data: bool = True,
        span: SpanContext | None = None,
        duration_ns: int | None = None,
        inst: int | None = None,
        location: Location | None = None,
    ) -> Signal | None:
        """Apply the call filters past the level floor and build the signal (or ``None``).

        ``depth`` is the frame of the code that emitted, for its module name and location.
        ``copy_data=False`` adopts ``data`` as it is (a fresh ``**kwargs`` dict: string keys,
        owned by nobody else). ``span`` (with ``duration_ns`` and ``inst``) is given for the
        signal that ends a span.
        """
        loc: Location | None = location
        if location is None and (ns is None or self.location):
            site_ns, loc = self._site(depth)
            if ns is None:
                ns = site_ns
        filters = self._filters
        if filters.active:
            try:
                if not filters.allows_names(lv, ns, kind, id) or filters.sampled_out(lv, kind):
                    self.refused += 1
                    return None
            except Exception as exc:  # a user predicate or pattern blew up
                warn("filters", f"a call filter raised {exc!r}")
                self.refused += 1
                return None
        if sample is not None:
            if not 0 <= sample <= 1:
                raise ConfigError("sample", f"must be a number in [0, 1], got {sample!r}")
            if sample < 1 and _rand() >= sample:
                self.refused += 1
                return None
        if type(msg) is not str and msg is not None:
            msg = str(msg)
        if not data:
            data = {}
        elif copy_data:
            data = (
                dict(data)
                if all(type(k) is str for k in data)
                else {str(k): v for k, v in data.items()}
            )
        bound = _ctx.get()
        ctx = {**bound, **{str(k): v for k, v in ctx.items()}} if ctx else bound
        if error is not None and not isinstance(error, ErrorInfo):
            error = error_info(error)
        if span is None:
            current = _span.get()
            trace_id = span_id = parent_id = None
            if current is not None:
                trace_id, span_id = current.trace_id, current.span_id
        else:
            trace_id, span_id, parent_id = span.trace_id, span.span_id, span.parent_id
        # Positional, in field order: see the note on Signal.
        sig = Signal(
            _time_ns() if inst is None else inst,
            new_uid(),
            kind,
            LABEL_OF.get(lv) or str(lv),
            ProcessInfo.host,
            ProcessInfo.pid,
            id,
            ns,
            msg,
            data,  # type: ignore[arg-type]
            ctx,
            loc,
            trace_id,
            span_id,
            error,
            parent_id,
            duration_ns,
            sample,
            None if _get_ident() == self._thread_id else threading.current_thread().name,
        )
        if filters.post_build:
            try:
                if not filters.allows_built(sig):
                    self.refused += 1
                    return None
            except Exception as exc:
                warn("filters", f"a call filter raised {exc!r}")
                self.refused += 1
                return None
        if rate_limit is not None:
            spec = rate_limit if isinstance(rate_limit, str) else ",".join(rate_limit)
            limiter = self._call_limiters.get(spec)
            if limiter is None:
                limiter = self._call_limiters[spec] = RateLimiter(rate_limit)
            if not limiter.allow((id or (loc and (loc.file, loc.line)), limit_by)):
                self.refused += 1
                return None
        return sig

    def _quick(
        self, lv: int, kind: str, id: str | None, msg: str | None, data: dict[str, Any], depth: int
    ) -> Signal:
        """:meth:`_build` for the common case, when :attr:`_plain` holds: no call filter past
        the level, locations on, no error, a ``str`` message and adopted ``**data``."""
        frame = _getframe(depth)
        code = frame.f_code
        site = self._sites.get(_id_of(code) ^ (frame.f_lasti << 52))
        if site is None or site[2] is not code:
            ns, loc = self._site(depth)
        else:
            ns, loc = site[0], site[1]
        span = _span.get()
        return Signal(
            _time_ns(),
            new_uid(),
            kind,
            LABEL_OF.get(lv) or str(lv),
            ProcessInfo.host,
            ProcessInfo.pid,
            id,
            ns,
            msg,
            data,
            _ctx.get(),
            loc,
            None if span is None else span.trace_id,
            None if span is None else span.span_id,
            None,
            None,
            None,
            None,
            None if _get_ident() == self._thread_id else threading.current_thread().name,
        )

    def _site(self, depth: int) -> tuple[str | None, Location | None]:
        """Module name and location of the frame ``depth`` levels up, cached per call site."""
        frame = _getframe(depth + 1)
        code = frame.f_code
        # An int key: hashing a code object (or a tuple holding one) costs more than the rest
        # of the look-up. The code object is kept in the entry, which both pins its id (so it
        # cannot be reused by another code object) and lets a colliding key be told apart.
        key = id(code) ^ (frame.f_lasti << 52)
        site = self._sites.get(key)
        if site is None or site[2] is not code:
            site = (
                frame.f_globals.get("__name__"),
                Location(file=code.co_filename, line=frame.f_lineno, function=code.co_name)
                if self.location
                else None,
                code,
            )
            if len(self._sites) < _SITE_CACHE_MAX:
                self._sites[key] = site
        return site[0], site[1]

    # The creators that take ``**data`` funnel into these, positionally: forwarding ``**data``
    # from one function to the next would cost more than the rest of the call. (The common
    # configuration does not come here at all: see telemetry._fastpath.)

    def _kw_signal(
        self,
        lv: int,
        kind: str,
        id: str | None,
        msg: object,
        error: BaseException | None,
        data: dict[str, Any],
        depth: int,
    ) -> Signal | None:
        """Build a signal adopting ``data`` (or ``None``: filtered); ``depth`` counts from here."""
        if self._plain and error is None and (msg is None or type(msg) is str):
            return self._quick(lv, kind, id, msg, data, depth + 1)
        return self._build(
            lv, msg, kind, id, data, None, error, None, None, None, None, depth + 1, False
        )

    def _emit_kw(
        self,
        lv: int,
        kind: str,
        id: str | None,
        msg: object,
        error: BaseException | None,
        data: dict[str, Any],
        depth: int,
    ) -> Awaitable[bool]:
        """Build a signal adopting ``data`` and submit it; ``depth`` counts from here."""
        sig = self._kw_signal(lv, kind, id, msg, error, data, depth + 1)
        if sig is None:
            return self._no
        return self._submit(sig, lv)

    def _emit_kw_nowait(
        self,
        lv: int,
        kind: str,
        id: str | None,
        msg: object,
        error: BaseException | None,
        data: dict[str, Any],
        depth: int,
    ) -> bool:
        """:meth:`_emit_kw` without awaiting."""
        sig = self._kw_signal(lv, kind, id, msg, error, data, depth + 1)
        if sig is None:
            return False
        self._emit_nowait(sig, lv)
        return True

    def _dispatch(
        self, sig: Signal, lv: int, accept: bool = False, from_thread: bool = False
    ) -> list[Handler] | None:
        """Offer ``sig`` to every handler without waiting; return those that need an await
        (blocking mode with a full queue, synchronous handlers). A signal from another thread
        goes behind the ones already parked for a handler, so that each thread's order holds."""
        self.emitted += 1
        if TAPS:
            for tap in TAPS:
                tap(sig)
        waits: list[Handler] | None = None
        open_ = self._state == "open" or accept
        for h in self._active:
            if h.filters is not None and not h.wants(sig, lv):
                continue
            if not open_:
                h.reject("closed")
            elif (
                h.sync
                or (from_thread and self._overflow_len and self._overflow.get(h.name))
                or not h.offer(sig)
            ):
                waits = [h] if waits is None else [*waits, h]
        return waits

    def _submit(self, sig: Signal, lv: int) -> Awaitable[bool]:
        """Dispatch ``sig`` now; the awaitable is already done unless a handler must wait
        (blocking mode with a full queue, or a synchronous handler)."""
        if _get_ident() != self._thread_id:
            self._from_thread(sig, lv)
            return self._yes
        waits = self._dispatch(sig, lv)
        if waits is None:
            return self._yes
        return self._wait_for(waits, sig)

    async def _wait_for(self, waits: list[Handler], sig: Signal) -> bool:
        for h in waits:
            if h.sync:
                await h.write_inline(sig)
            else:
                await h.offer_wait(sig)
        return True

    def _emit_nowait(self, sig: Signal, lv: int) -> None:
        if _get_ident() != self._thread_id:
            self._from_thread(sig, lv)
            return
        waits = self._dispatch(sig, lv)
        if waits is not None:
            self._settle_nowait(waits, sig)

    def _settle_nowait(self, waits: list[Handler], sig: Signal) -> None:
        for h in waits:
            if h.sync:
                if not h.write_inline_nowait(sig) and not h.offer(sig):
                    h.refuse_full()
            else:
                h.refuse_full()

    # -- signals from other threads ----------------------------------------------------------

    def _from_thread(self, sig: Signal, lv: int) -> None:
        loop = self._loop
        if self._state != "open" or loop is None:
            self._dispatch(sig, lv)  # counted as closed
            return
        if len(self._inbox) + self._overflow_len >= self._inbox_limit and any(
            h.mode == "blocking" for h in self._active
        ):
            # Back-pressure for blocking handlers: this thread waits, the loop never does.
            self._room.clear()
            # ... unless the loop has stopped (the app died without aclose()): nothing will
            # make room then, and the exit fallback writes what the inbox holds.
            while (
                len(self._inbox) + self._overflow_len >= self._inbox_limit
                and self.state == "open"
                and loop.is_running()
            ):
                self._room.wait(0.05)
        self._inbox.append((sig, lv))
        if not self._inbox_scheduled:
            self._inbox_scheduled = True
            try:
                loop.call_soon_threadsafe(self._drain_inbox)
            except RuntimeError:  # the loop is closed: the exit fallback will count it
                self._inbox_scheduled = False

    def _drain_inbox(self, accept: bool = False) -> None:
        self._inbox_scheduled = False
        inbox = self._inbox
        while inbox:
            sig, lv = inbox.popleft()
            waits = self._dispatch(sig, lv, accept, from_thread=True)
            if waits is None:
                continue
            for h in waits:
                if h.sync and h.write_inline_nowait(sig):
                    continue
                if h.mode == "blocking" or h.sync:
                    self._park(h, sig)
                else:
                    h.refuse_full()
        if not self._room.is_set() and self._overflow_len < self._inbox_limit:
            self._room.set()

    def _drain_inbox_sync(self, deadline: float) -> None:
        """At exit, with no loop: dispatch what threads handed over. A full blocking handler
        has no worker left to make room, so one of its batches is written here first."""
        while self._inbox:
            sig, lv = self._inbox.popleft()
            for h in self._dispatch(sig, lv, accept=True) or ():
                if h.sync and h.write_inline_nowait(sig):
                    continue
                if time.monotonic() < deadline:
                    h.write_batch_sync()
                    if h.offer(sig):
                        continue
                h.refuse_full()

    def _park(self, handler: Handler, sig: Signal) -> None:
        """A thread's signal for a full blocking handler waits here, in order, for room."""
        q = self._overflow.get(handler.name)
        if q is None:
            q = self._overflow[handler.name] = deque()
        q.append(sig)
        self._overflow_len += 1
        if len(q) == 1 and self._tg is not None:
            self._tg.start_soon(self._pump, handler, q)

    async def _pump(self, handler: Handler, q: deque[Signal]) -> None:
        # The signal in hand is taken off the deque first: if the hub closes meanwhile,
        # offer_wait() counts it (as closed) and _abandon_overflow() counts only what is left.
        while q:
            sig = q.popleft()
            self._overflow_len -= 1
            await handler.offer_wait(sig)
            if (
                not self._room.is_set()
                and self._overflow_len + len(self._inbox) < self._inbox_limit
            ):
                self._room.set()

    async def _drain_overflow(self) -> None:
        # Each parked handler has a pump task doing the real waiting; this only polls its count.
        while self._overflow_len:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
