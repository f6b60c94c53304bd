"""The one emitting path (telemetry._emit): what every creator builds, for every configuration,
and every change of configuration honoured at once."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
import types
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import telemetry as tel
from telemetry import Telemetry, bind
from telemetry._queue import SignalQueue
from telemetry._signal import _spare_uids, top_up_uids
from telemetry.sinks import MemorySink
from telemetry.testing import capture_signals, make_signal

LEVEL_NAMES = ["trace", "debug", "info", "warn", "error", "fatal"]


def _same(a: tel.Signal, b: tel.Signal) -> None:
    """Equal but for the time, the uid and the line of the call."""
    assert a.location is not None and b.location is not None
    assert (a.location.file, a.location.function) == (b.location.file, b.location.function)
    blank = {"inst": 0, "uid": "", "location": None}
    assert msgspec.structs.replace(a, **blank) == msgspec.structs.replace(b, **blank)


async def test_every_creator_builds_the_same_signal() -> None:
    """log and event (module-level and hub methods) give the same signal as ``signal()`` with
    the same content: namespace, location, bound context, span ids, data."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}) as hub:
        with bind(user="ada"):
            async with hub.span("outer"):
                await tel.log("info", "hello", n=1, s="x")
                await hub.signal("hello", level="info", data={"n": 1, "s": "x"})
                await hub.log("warn", "hi", n=2)
                await hub.signal("hi", level="warn", data={"n": 2})
                await tel.event("user.joined", room="lobby")
                await hub.signal(kind="event", id="user.joined", data={"room": "lobby"})
                await hub.event("user.left", level="debug")  # below info: refused
        await tel.log("info", 42)  # not a string: made one
        await hub.signal(42)
    sigs = sink.signals
    assert len(sigs) == 9
    for a, b in zip(sigs[0:6:2], sigs[1:6:2], strict=True):
        _same(a, b)
    assert sigs[0].ns == __name__ and sigs[0].ctx == {"user": "ada"}
    assert sigs[0].trace_id == sigs[6].trace_id and sigs[0].span_id == sigs[6].span_id
    assert sigs[6].kind == "span" and sigs[0].trace_id is not None
    _same(sigs[7], sigs[8])
    assert sigs[7].msg == "42"


async def test_location_and_namespace_are_the_callers_for_every_call_site() -> None:
    """Each call site gets its own line, even several on one line of source."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}):
        for i in range(3):
            await tel.log("info", "a", i=i)
            await tel.log("info", "b", i=i)
    lines = [s.location.line for s in sink.signals if s.location]
    assert lines[0::2] == [lines[0]] * 3 and lines[1::2] == [lines[0] + 1] * 3
    assert {s.location.function for s in sink.signals if s.location} == {
        "test_location_and_namespace_are_the_callers_for_every_call_site"
    }


async def _site_a(i: int) -> None:
    await tel.log("info", "a", i=i)


async def _site_b(i: int) -> None:
    await tel.log("info", "b", i=i)


async def test_sites_at_the_same_instruction_offset_keep_their_own_location() -> None:
    """Two functions with the same code make their calls at the same instruction offset (the
    key of the emitter's first cache): alternating between them, each signal still carries
    its own function and line."""
    assert _site_a.__code__.co_code == _site_b.__code__.co_code
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}):
        for i in range(4):
            await _site_a(i)
            await _site_b(i)
    got = [(s.msg, s.location.function, s.location.line) for s in sink.signals if s.location]
    line_a = _site_a.__code__.co_firstlineno + 1
    line_b = _site_b.__code__.co_firstlineno + 1
    assert got == [("a", "_site_a", line_a), ("b", "_site_b", line_b)] * 4


async def test_the_hub_counts_every_signal_while_its_handlers_come_and_go() -> None:
    """The emitting path counts nothing itself while the hub has a handler (its first handler
    counts for it): the hub's count stays exact with no handler, as the first handler changes,
    and after the handler that counted is removed and closed; what arrives while there is no
    handler is counted as dropped (no_handler)."""
    async with Telemetry(handlers={}) as hub:
        await tel.log("info", "no handler")
        hub.add_handler("a", MemorySink())
        for _ in range(3):
            await tel.log("info", "to a")
        hub.add_handler("b", MemorySink(), min_level="warn")
        await tel.log("info", "a only")  # b refuses it: a counts it
        await hub.remove_handler("a")
        await tel.log("warn", "to b")
        await tel.log("info", "b refuses")  # b counts what it filters
        await hub.remove_handler("b")
        await tel.log("info", "no handler again")
        assert (hub.emitted, hub.stats().emitted) == (8, 8)
    stats = hub.stats()
    assert stats.emitted == 8
    assert (stats.no_handler, stats.dropped["no_handler"]) == (2, 2)


async def test_capture_sees_what_handlers_get() -> None:
    """capture_signals inserts a tap stage and removes it: with a capture active, signals are
    still delivered to the handlers, and captured as well; afterwards the stage is gone."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}):
        await tel.log("info", "before")
        with capture_signals() as captured:
            await tel.log("info", "during", k=1)
        await tel.log("info", "after")
    assert [s.msg for s in sink.signals] == ["before", "during", "after"]
    assert [s.msg for s in captured.signals] == ["during"]


async def test_configuration_changes_take_effect_on_the_next_call() -> None:
    """set_min_level, add_handler with filters, remove_handler and aclose between calls: each
    change applies to the very next call."""
    a, b = MemorySink(), MemorySink()
    async with Telemetry(handlers={"a": a}) as hub:
        assert await tel.log("info", "1") is True
        hub.set_min_level("warn")
        assert await tel.log("info", "refused") is False
        assert await tel.log("warn", "2") is True
        hub.set_min_level({__name__: "debug", "*": "error"})
        assert await tel.log("debug", "3") is True  # this module is at debug
        assert await hub.signal("other", level="warn", ns="elsewhere") is False
        hub.set_min_level("info")
        hub.add_handler("b", b, min_level="error", kind_filter={"deny": ["event"]})
        await tel.log("info", "4")
        await tel.log("error", "5")
        await tel.event("e", level="error")
        await hub.remove_handler("a")
        await tel.log("error", "6")
    assert [s.msg for s in a.signals] == ["1", "2", "3", "4", "5", None]
    assert [s.msg for s in b.signals] == ["5", "6"]
    stats = hub.stats()
    assert stats.handlers["b"].filtered == 2
    assert stats.emitted == 7 and stats.refused == 1
    assert await hub.log("error", "late") is True
    assert hub.handlers["b"].stats().dropped["closed"] == 1


async def test_every_configuration_takes_the_one_path_and_delivers() -> None:
    """Call filters, handler filters, synchronous handlers, locations off: each configuration
    compiles its emitters (no second path to fall back to) and delivers."""
    configs: list[dict[str, Any]] = [
        {"handlers": {"m": MemorySink()}, "kind_filter": {"deny": ["nothing"]}},
        {"handlers": {"m": MemorySink()}, "sample": 1.0},
        {"handlers": {"m": MemorySink()}, "when": lambda sig: True, "rate_limit": "1000/s"},
        {"handlers": {"m": {"sink": MemorySink(), "min_level": "info"}}},
        {"handlers": {"m": {"sink": MemorySink(), "sync": True}}},
        {"handlers": {"m": MemorySink()}, "location": False},
    ]
    for cfg in configs:
        async with Telemetry(**cfg) as hub:
            assert callable(hub._table["info"])
            assert hub._table["trace"] is False
            assert await tel.log("info", "x", k=1) is True
            assert await tel.log("trace", "no") is False
        (h,) = hub.handlers.values()
        stats = h.stats()
        assert stats.written == 1
        sink = h.sink
        assert isinstance(sink, MemorySink) and sink.signals[0].data == {"k": 1}
        assert (sink.signals[0].location is None) is (cfg.get("location") is False)


async def test_other_threads_and_full_queues() -> None:
    """From another thread the call goes through the inbox (with the thread's name); a full
    queue drops (dropping) or waits (blocking, and the default), counted exactly."""
    drop, block, default = MemorySink(), MemorySink(), MemorySink()
    async with Telemetry(
        handlers={
            "drop": {"sink": drop, "buffer_size": 4, "mode": "dropping"},
            "block": {"sink": block, "buffer_size": 4, "mode": "blocking"},
            "default": {"sink": default, "buffer_size": 4},
        }
    ) as hub:
        for i in range(50):  # no await that yields: the workers cannot run meanwhile
            await tel.log("info", "burst", i=i)

        def from_thread() -> None:
            tel.log_nowait("info", "thread")

        t = threading.Thread(target=from_thread, name="worker-7")
        t.start()
        t.join()
    st = hub.stats().handlers
    assert st["drop"].emitted == st["block"].emitted == 51
    assert st["drop"].written + st["drop"].dropped.get("queue_full", 0) == 51
    assert st["drop"].dropped.get("queue_full", 0) > 0
    for name, sink in (("block", block), ("default", default)):
        assert st[name].written == 51 and not st[name].dropped
        assert [s.data.get("i") for s in sink.signals[:50]] == list(range(50))
        assert sink.signals[50].thread == "worker-7"


@pytest.mark.parametrize("n", [1, 3])
async def test_uids_are_unique_and_spares_are_topped_up(n: int) -> None:
    """Signals take spare uids made by the workers, and make one when none is left: all of
    them distinct 16-hex-digit strings."""
    _spare_uids.clear()
    sinks = [MemorySink() for _ in range(n)]
    async with Telemetry(handlers={f"m{i}": s for i, s in enumerate(sinks)}) as hub:
        for _ in range(20):
            for i in range(500):
                await tel.log("info", "u", i=i)
            await hub.flush()
        spares = len(_spare_uids)
        assert spares > 0, "the workers made spares"
        await tel.log("info", "u", i=-1)
        assert len(_spare_uids) == spares - 1, "a signal took one"
    uids = [s.uid for s in sinks[0].signals]
    assert len(uids) == 10_001 == len(set(uids))
    assert all(re.fullmatch("[0-9a-f]{16}", u) for u in uids), uids
    for other in sinks[1:]:
        assert [s.uid for s in other.signals] == uids, "one signal, shared by every handler"


async def test_spans_take_their_ids_from_the_spares_never_all_zero_and_all_distinct() -> None:
    """A span's trace and span ids are spare uids (no random draw per span), W3C-sized, never
    the all-zero id W3C forbids (a spare that happens to be zeros is passed over), and
    distinct across spans; with no spares left they are still made."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}) as hub:
        await hub.flush()
        top_up_uids()
        _spare_uids.extend(["0" * 16] * 3)  # what a draw of all zeros would leave
        spares = len(_spare_uids)
        async with tel.span("first"):
            pass
        assert len(_spare_uids) == spares - 4, "three for its ids, one for its signal's uid"
        _spare_uids.clear()
        async with tel.span("second"), tel.span("child"):
            pass
    ids = [(s.trace_id, s.span_id) for s in sink.signals]
    assert len(ids) == 3
    for trace_id, span_id in ids:
        assert re.fullmatch("[0-9a-f]{32}", trace_id or "") and trace_id != "0" * 32
        assert re.fullmatch("[0-9a-f]{16}", span_id or "") and span_id != "0" * 16
    assert len({span_id for _, span_id in ids}) == 3 and len({t for t, _ in ids}) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_reuses_the_parents_spare_uids() -> None:
    top_up_uids()
    parents = set(_spare_uids)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            uids = [make_signal().uid for _ in range(100)]
            ok = not _spare_uids and not parents.intersection(uids)
            os.write(w, b"ok" if ok else b"reused")
        finally:
            os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.read(r, 16) == b"ok" and status == 0
    os.close(r)


# -- the queue under the handlers: counts it keeps so that the emitting path keeps none --------


@given(st.lists(st.tuples(st.sampled_from(["put", "evict", "take"]), st.integers(1, 6))))
def test_signal_queue_counts_what_went_through_it(ops: list[tuple[str, int]]) -> None:
    """appended == taken + depth, peak is the deepest the queue ever was, order is FIFO."""
    q: SignalQueue[int] = SignalQueue(5)
    model: list[int] = []
    appended = taken = peak = 0
    out: list[int] = []
    for op, k in ops:
        if op == "put":
            for _ in range(k):
                if q.put_nowait(appended):
                    model.append(appended)
                    appended += 1
        elif op == "evict":
            evicted = q.put_evicting(appended)
            if len(model) == 5:
                assert evicted == model.pop(0)
                taken += 1
            else:
                assert evicted is None
            model.append(appended)
            appended += 1
        else:
            batch = q.get_batch_nowait(k)
            assert batch == model[:k]
            out += batch
            del model[:k]
            taken += len(batch)
        peak = max(peak, len(model))
    assert (q.appended, q.taken, len(q), q.peak) == (appended, taken, len(model), peak)


# -- any sequence of calls and changes: each handler gets exactly what the model says ---------

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("log"), st.sampled_from(LEVEL_NAMES), st.booleans()),
        st.tuples(st.just("event"), st.sampled_from(LEVEL_NAMES), st.booleans()),
        st.tuples(st.just("log_nowait"), st.sampled_from(LEVEL_NAMES), st.booleans()),
        st.tuples(st.just("event_nowait"), st.sampled_from(LEVEL_NAMES), st.booleans()),
        st.tuples(st.just("level"), st.sampled_from(LEVEL_NAMES), st.booleans()),
        st.tuples(st.just("nslevel"), st.sampled_from(LEVEL_NAMES), st.booleans()),
        st.tuples(st.just("add"), st.sampled_from([None, *LEVEL_NAMES]), st.booleans()),
        st.tuples(st.just("remove"), st.just(""), st.booleans()),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops)
def test_any_sequence_of_calls_and_changes_matches_the_model(
    ops: list[tuple[str, str | None, bool]],
) -> None:
    """Calls through the module-level and hub creators (awaited and ``*_nowait``),
    interleaved with level changes and handlers added (with and without their own level,
    dropping or blocking) and removed: each sink holds exactly the signals the model says, in
    order, and the counts add up."""
    rank = {name: i for i, name in enumerate(LEVEL_NAMES)}

    async def run() -> None:
        sinks: dict[str, MemorySink] = {}
        expected: dict[str, list[int]] = {}
        floors: dict[str, int] = {}  # handler min levels (rank), -1 for none
        active: list[str] = []
        hub_floor = rank["info"]
        n = 0
        async with Telemetry(handlers={}) as hub:
            for op, arg, flag in ops:
                if op in ("log", "event", "log_nowait", "event_nowait"):
                    assert arg is not None
                    n += 1
                    creator = getattr(tel if flag else hub, op)
                    if op.startswith("log"):
                        res = creator(arg, None, n=n)
                    else:
                        res = creator("e", level=arg, n=n)
                    ok = res if op.endswith("_nowait") else await res
                    assert ok is (rank[arg] >= hub_floor)
                    if ok:
                        for name in active:
                            if rank[arg] >= floors[name]:
                                expected[name].append(n)
                elif op == "level":
                    assert arg is not None
                    hub.set_min_level(arg)
                    hub_floor = rank[arg]
                elif op == "nslevel":  # this module at arg, everything else at fatal
                    assert arg is not None
                    hub.set_min_level({__name__: arg, "*": "fatal"})
                    hub_floor = rank[arg]
                elif op == "add":
                    name = f"h{len(sinks)}"
                    sinks[name] = MemorySink()
                    expected[name] = []
                    floors[name] = -1 if arg is None else rank[arg]
                    active.append(name)
                    hub.add_handler(
                        name,
                        sinks[name],
                        buffer_size=10_000,
                        min_level=arg,
                        mode="blocking" if flag else "dropping",
                    )
                elif active:
                    await hub.remove_handler(active.pop(0))
        for name, sink in sinks.items():
            assert [s.data["n"] for s in sink.signals] == expected[name]
        for h in hub.stats().handlers.values():
            assert h.emitted == h.written + h.dropped_total

    asyncio.run(run())


async def test_level_changes_from_a_thread_never_leave_a_new_handler_out() -> None:
    """set_min_level from another thread while the loop adds handlers: once both are done,
    every handler gets the next signal (the last table swapped in is the latest state's)."""
    stop = threading.Event()
    sinks = [MemorySink() for _ in range(40)]
    async with Telemetry(handlers={}) as hub:

        def flip() -> None:
            while not stop.is_set():
                hub.set_min_level("debug")
                hub.set_min_level("info")

        t = threading.Thread(target=flip)
        t.start()
        try:
            for i, sink in enumerate(sinks):
                hub.add_handler(f"h{i}", sink)
                await asyncio.sleep(0)
        finally:
            stop.set()
            t.join()
        assert await tel.log("info", "after") is True
    assert all([s.msg for s in sink.signals] == ["after"] for sink in sinks)


async def test_threads_taking_spare_uids_never_break_a_call() -> None:
    """Other threads take spare uids too (a pop each): when one takes the last spare between
    the emitter's test and its pop, the call makes its own uid instead of failing."""
    from telemetry._signal import new_uid

    stop = threading.Event()
    taken: list[list[str]] = [[] for _ in range(3)]

    def take(out: list[str]) -> None:
        while not stop.is_set():
            out.append(new_uid())

    sink = MemorySink()
    async with Telemetry(handlers={"m": {"sink": sink, "buffer_size": 50_000}}) as hub:
        threads = [threading.Thread(target=take, args=(out,)) for out in taken]
        for t in threads:
            t.start()
        try:
            for i in range(20_000):
                assert await tel.log("info", "u", i=i) is True
                if i % 500 == 0:
                    top_up_uids(64)
        finally:
            stop.set()
            for t in threads:
                t.join()
        await hub.flush()
    uids = [s.uid for s in sink.signals] + [u for out in taken for u in out]
    assert len(sink.signals) == 20_000
    assert len(uids) == len(set(uids))


async def test_nowait_forms_never_wait() -> None:
    """log_nowait / event_nowait on the loop build what signal_nowait builds; a full blocking
    queue drops (queue_full) instead of waiting."""
    sink = MemorySink()
    async with Telemetry(
        handlers={"m": {"sink": sink, "mode": "blocking", "buffer_size": 3}}
    ) as hub:
        assert callable(hub._table_nowait["info"])
        with bind(user="ada"):
            assert tel.log_nowait("info", "hello", n=1) is True
            assert hub.signal_nowait("hello", level="info", data={"n": 1}) is True
            assert hub.event_nowait("e", k=2) is True
        assert tel.log_nowait("debug", "refused") is False
        assert tel.event_nowait("e", level="trace") is False
        for i in range(5):  # the queue holds 3 and nothing yields: 5 dropped
            assert hub.log_nowait("info", "burst", i=i) is True
    _same(sink.signals[0], sink.signals[1])
    assert sink.signals[2].kind == "event" and sink.signals[2].data == {"k": 2}
    stats = hub.stats().handlers["m"]
    assert (stats.emitted, stats.written, dict(stats.dropped)) == (8, 3, {"queue_full": 5})


async def test_namespace_levels_and_patterns_are_decided_once_per_namespace() -> None:
    """Per-namespace levels and namespace patterns are decided once per namespace: a call
    from a refused namespace, or below its namespace's level but above the floor, returns
    False and counts as refused."""
    sink = MemorySink()
    levels = {__name__: "debug", "*": "error"}
    async with Telemetry(
        handlers={"m": sink}, min_level=levels, ns_filter={"deny": ["tests.quiet*"]}
    ) as hub:
        assert callable(hub._table["debug"]) and hub._table["trace"] is False
        assert await tel.log("debug", "mine") is True
        assert tel.log_nowait("trace", "below every level") is False
        assert await hub.signal("theirs", level="warn", ns="other") is False
        assert await hub.signal("theirs", level="error", ns="other") is True
        assert await hub.signal("quiet", level="error", ns="tests.quiet.db") is False

        quiet = types.ModuleType("tests.quiet.db")
        quiet.tel = tel  # type: ignore[attr-defined]
        exec("async def emit():\n    return await tel.log('error', 'denied')", quiet.__dict__)
        assert await quiet.emit() is False  # denied by the namespace patterns
        hub.set_min_level({__name__: "warn", "*": "error"})
        assert await tel.log("info", "now below this module's level") is False
        assert tel.event_nowait("e", level="warn") is True
    assert [s.msg or s.id for s in sink.signals] == ["mine", "theirs", "e"]
    # Counted as refused: the three past the floor (below the floor nothing is even counted).
    assert hub.stats().refused == 3


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


async def test_a_message_or_key_whose_str_raises_never_reaches_the_caller() -> None:
    """A message, an exception or a data key whose ``__str__`` raises: the call returns True,
    the signal is delivered with a placeholder naming the type, and the rest is intact."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}) as hub:
        assert await tel.log("info", _Unprintable(), k=1) is True
        assert tel.log_nowait("info", _Unprintable()) is True
        assert await hub.signal(_Unprintable(), data={_Unprintable(): 2}) is True

        class Broken(Exception):
            def __str__(self) -> str:
                raise RuntimeError("broken")

        assert isinstance(await tel.error(Broken()), Broken)
    msgs = [s.msg for s in sink.signals]
    assert msgs[:3] == ["<unprintable _Unprintable>"] * 3
    assert sink.signals[0].data == {"k": 1}
    assert sink.signals[2].data == {"<unprintable _Unprintable>": 2}
    assert sink.signals[3].kind == "error" and sink.signals[3].msg == "<unprintable Broken>"


def _helper_that_logs(hub: Telemetry) -> bool:
    """An application helper: with stacklevel=2 its caller's line is recorded."""
    return hub.log_nowait("info", "from helper", stacklevel=2)


async def test_the_call_site_is_the_first_frame_outside_the_library() -> None:
    """Module-level creators forward to the hub's; spans, signal() and error() take other
    routes: every one records the application's line, found by skipping the library's own
    frames; stacklevel=2 records the caller of a helper."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}) as hub:
        line = sys._getframe().f_lineno
        await tel.signal("a")
        await hub.signal("b")
        tel.signal_nowait("c")
        await tel.error(ValueError("d"))
        async with tel.span("e"):
            pass
        with hub.span("f"):
            pass
        _helper_that_logs(hub)
    got = [(s.msg or s.id, s.location.line if s.location else None) for s in sink.signals]
    offsets = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 7, "from helper": 9}
    assert got == [(m, line + k) for m, k in offsets.items()]
    assert {s.ns for s in sink.signals} == {__name__}
    assert {s.location.function for s in sink.signals if s.location} == {
        "test_the_call_site_is_the_first_frame_outside_the_library"
    }


async def test_a_handler_level_is_decided_when_compiling_and_still_counted() -> None:
    """A handler whose only filter is its level gets no run-time check (the emitter of each
    level includes it or not), and what it refuses is still counted as filtered."""
    console, everything = MemorySink(), MemorySink()
    async with Telemetry(
        handlers={"console": {"sink": console, "min_level": "warn"}, "all": everything}
    ) as hub:
        for level in ("info", "warn", "info", "error"):
            await tel.log(level, level)
        tel.log_nowait("debug", "below the hub")
        hub.emit_signal_nowait(make_signal("rebuilt", level="info"))
    assert [s.msg for s in console.signals] == ["warn", "error"]
    assert [s.msg for s in everything.signals] == ["info", "warn", "info", "error", "rebuilt"]
    stats = hub.stats().handlers
    assert (stats["console"].filtered, stats["console"].emitted) == (3, 2)


async def test_a_span_end_passes_the_call_filters_of_its_level_and_kind() -> None:
    """A span's end goes through its level's span emitter (``emit.span``), which runs the same
    call filters as a log: a kind filter that takes only logs refuses the span (counted), a
    namespace pattern refuses the spans of a namespace it leaves out."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}, kind_filter=["log"]) as hub:
        async with hub.span("refused.by.kind"):
            await hub.log("info", "kept")
        stats = hub.stats()
    assert [(s.kind, s.msg) for s in sink.signals] == [("log", "kept")]
    assert stats.refused == 1

    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}, ns_filter={"deny": [__name__]}) as hub:
        async with hub.span("refused.by.namespace"):
            pass
        stats = hub.stats()
    assert sink.signals == []
    assert stats.refused == 1


async def test_a_span_ended_on_another_thread_carries_its_ids_and_the_thread() -> None:
    """A span started on the loop and ended on another thread is handed to the loop like the
    thread's other signals (through ``emit_more``): its ids, parent, duration and location
    are the span's own, and it names the thread. Ending it there raises nothing into that
    thread (the context it started in is not that thread's to restore: a warning says so)."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}) as hub, hub.span("outer") as outer:
        span = hub.span("inner")
        ctx = span.start()
        worker = threading.Thread(target=span.end_nowait, name="closer")
        worker.start()
        await asyncio.to_thread(worker.join)
    inner = next(s for s in sink.signals if s.id == "inner")
    assert (inner.trace_id, inner.span_id, inner.parent_id) == (
        outer.trace_id,
        ctx.span_id,
        outer.span_id,
    )
    assert inner.thread == "closer"
    assert inner.duration_ns is not None and inner.duration_ns > 0
    assert inner.location is not None and inner.location.function == (
        "test_a_span_ended_on_another_thread_carries_its_ids_and_the_thread"
    )
