"""Observable instruments: callbacks run at collection, and one that raises or hangs costs
only itself."""

from __future__ import annotations

import threading
from typing import Any

from telemetry._metrics._instruments import Scope
from telemetry._metrics._reader import MetricReader
from telemetry._metrics._state import MetricsState

SCOPE = Scope(("tests", "", ""))


def test_callbacks_run_at_each_collection() -> None:
    """An observable counter reports what its callback returns; in delta, the change."""
    state = MetricsState()
    total = [0]

    def cb(options: Any) -> list[tuple[int, dict[str, str]]]:
        total[0] += 5
        return [(total[0], {"cpu": "0"})]

    state.instrument(SCOPE, "observable_counter", "ticks", "{tick}", callbacks=[cb])
    cumulative = MetricReader(state=state)
    delta = MetricReader("delta", state=state)
    assert [p.value for m in cumulative.collect() for p in m.points] == [5]
    assert [p.value for m in delta.collect() for p in m.points] == [10]
    got = delta.collect()
    assert [(m.temporality, m.monotonic, [p.value for p in m.points]) for m in got] == [
        ("delta", True, [5])
    ]


def test_a_raising_or_hanging_callback_stalls_nothing() -> None:
    """A callback that raises is counted; one that hangs is waited for at most the deadline,
    then skipped until it returns; the other callbacks' observations are reported."""
    state = MetricsState()
    release = threading.Event()
    returned = threading.Event()

    def boom(options: Any) -> list[Any]:
        raise RuntimeError("sensor gone")

    def hang(options: Any) -> list[Any]:
        release.wait(30)
        returned.set()
        return [(1, {})]

    def fine(options: Any) -> list[Any]:
        return [(7, {"ok": True})]

    state.instrument(SCOPE, "observable_gauge", "broken", "", callbacks=[boom])
    state.instrument(SCOPE, "observable_gauge", "stuck", "", callbacks=[hang])
    state.instrument(SCOPE, "observable_gauge", "fine", "", callbacks=[fine])
    reader = MetricReader(state=state, callback_timeout=0.3)
    try:
        got = reader.collect()
        # The collection came back while the hung callback was still inside its wait.
        assert not returned.is_set()
        assert state.dropped["callback_error"] == 1
        assert state.dropped["callback_timeout"] >= 1
        # "fine" runs after "stuck" and was not reached in time: the next collection skips
        # the hung callback and gets to it.
        got = reader.collect()
        assert [(m.name, [p.value for p in m.points]) for m in got] == [("fine", [7])]
    finally:
        release.set()


def test_a_bad_observation_is_dropped_alone() -> None:
    """An observation that is not a number, or negative for a counter, is counted; the others
    of the same callback are kept."""
    state = MetricsState()
    state.instrument(
        SCOPE,
        "observable_counter",
        "c",
        "",
        callbacks=[lambda o: [(-1, {"a": 1}), ("x", {"a": 2}), (3, {"a": 3})]],
    )
    got = MetricReader(state=state).collect()
    assert [(p.attrs, p.value) for m in got for p in m.points] == [({"a": 3}, 3)]
    assert state.dropped["negative"] == 1 and state.dropped["not_a_number"] == 1
