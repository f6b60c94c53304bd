"""The aggregation core: what instruments keep, what they refuse, and what readers see."""

from __future__ import annotations

import bisect
import math
import threading
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry._metrics._instruments import Counter, Histogram, Scope
from telemetry._metrics._reader import HistogramPoint, Metric, MetricReader, NumberPoint
from telemetry._metrics._series import DEFAULT_BUCKETS
from telemetry._metrics._state import MetricsState

SCOPE = Scope(("tests", "1.0", ""))
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
values = st.floats(min_value=0, max_value=20, allow_nan=False, allow_infinity=False)


def histogram(state: MetricsState, name: str = "h") -> Histogram:
    inst = state.instrument(SCOPE, "histogram", name, "s", buckets=BOUNDS)
    assert isinstance(inst, Histogram)
    return inst


def counter(state: MetricsState, name: str = "c") -> Counter:
    inst = state.instrument(SCOPE, "counter", name, "{thing}")
    assert isinstance(inst, Counter)
    return inst


def only(metrics: list[Metric], name: str) -> list[Any]:
    (m,) = [m for m in metrics if m.name == name]
    return m.points


@settings(max_examples=60, deadline=None)
@given(st.lists(values, max_size=300))
def test_a_histogram_counts_each_value_in_its_bucket(xs: list[float]) -> None:
    """Count, sum, min and max are the values'; bucket i counts values in (b[i-1], b[i]], so the
    bucket counts sum to the count."""
    state = MetricsState()
    h = histogram(state)
    for x in xs:
        h.record(x, {"route": "/"})
    points = MetricReader(state=state).collect()
    if not xs:
        assert points == []
        return
    (p,) = only(points, "h")
    assert isinstance(p, HistogramPoint)
    assert p.count == len(xs) == sum(p.buckets)
    assert p.sum == pytest.approx(math.fsum(xs))
    assert (p.min, p.max) == (min(xs), max(xs))
    expected = [0] * (len(BOUNDS) + 1)
    for x in xs:
        expected[bisect.bisect_left(BOUNDS, x)] += 1
    assert p.buckets == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 100), st.sampled_from("abc")), max_size=30)))
def test_deltas_add_up_to_the_cumulative_totals(intervals: list[list[tuple[int, str]]]) -> None:
    """Collected after every interval, a delta reader's points sum, per attribute set, to
    what a cumulative reader sees at the end; an attribute set unchanged in an interval has
    no delta point."""
    state = MetricsState()
    c = counter(state)
    h = histogram(state)
    delta, cumulative = MetricReader("delta", state=state), MetricReader(state=state)
    sums: dict[str, int] = {}
    counts: dict[str, int] = {}
    for interval in intervals:
        touched = set()
        for amount, key in interval:
            c.add(amount, {"k": key})
            h.record(amount / 10, {"k": key})
            touched.add(key)
        got = delta.collect()
        seen = set()
        for m in got:
            assert m.temporality == "delta"
            for p in m.points:
                key = p.attrs["k"]
                if m.name == "c":
                    sums[key] = sums.get(key, 0) + p.value
                    seen.add(key)
                else:
                    counts[key] = counts.get(key, 0) + p.count
        assert seen == touched
    final = cumulative.collect()
    assert {p.attrs["k"]: p.value for p in only(final, "c")} == sums if sums else True
    if counts:
        assert {p.attrs["k"]: p.count for p in only(final, "h")} == counts


def test_a_delta_histogram_reports_the_intervals_extremes() -> None:
    """Delta min/max are the interval's; the cumulative reader still sees the lifetime's."""
    state = MetricsState()
    h = histogram(state)
    delta, cumulative = MetricReader("delta", state=state), MetricReader(state=state)
    for x in (1.0, 9.0):
        h.record(x)
    assert [(p.min, p.max) for p in only(delta.collect(), "h")] == [(1.0, 9.0)]
    h.record(4.0)
    assert [(p.min, p.max, p.count) for p in only(delta.collect(), "h")] == [(4.0, 4.0, 1)]
    assert [(p.min, p.max, p.count) for p in only(cumulative.collect(), "h")] == [(1.0, 9.0, 3)]


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (-1, "negative"),
        (math.nan, "non_finite"),
        (math.inf, "non_finite"),
        ("3", "not_a_number"),
        (None, "not_a_number"),
        (object(), "not_a_number"),
    ],
)
def test_bad_values_are_dropped_and_counted(amount: Any, reason: str) -> None:
    """A value a counter or histogram must not take is dropped and counted under its reason;
    nothing raises and the series keeps its earlier value."""
    state = MetricsState()
    c, h = counter(state), histogram(state)
    c.add(2, {"a": 1})
    c.add(amount, {"a": 1})
    h.record(amount)
    assert state.dropped[reason] == 2
    assert [p.value for p in only(MetricReader(state=state).collect(), "c")] == [2]


def test_numbers_of_other_types_are_taken_as_floats() -> None:
    """A bool counts as an int, a Fraction or numpy-like Real as its float value."""
    from fractions import Fraction

    state = MetricsState()
    c = counter(state)
    c.add(True)
    c.add(Fraction(1, 2))
    assert [p.value for p in only(MetricReader(state=state).collect(), "c")] == [1.5]
    assert not state.dropped


def test_attributes_of_unsupported_types_are_dropped_from_the_set() -> None:
    """Values other than str/bool/int/float (or homogeneous sequences of them) and keys that
    are not strings are left out; the measurement counts under what remains."""
    state = MetricsState()
    c = counter(state)
    c.add(1, {"ok": "yes", "bad": object(), 3: "x", "list": [1, 2], "mixed": [1, "a"]})
    c.add(1, {"ok": "yes", "list": (1, 2)})
    (p,) = only(MetricReader(state=state).collect(), "c")
    assert p.attrs == {"ok": "yes", "list": (1, 2)}
    assert p.value == 2
    assert state.dropped["bad_attribute"] == 3


def test_a_mapping_changed_in_place_counts_under_its_new_contents() -> None:
    """The identity cache never sends a reused mapping to the series of its old contents."""
    state = MetricsState()
    c = counter(state)
    attrs: dict[str, Any] = {"route": "/a"}
    c.add(1, attrs)
    attrs["route"] = "/b"
    c.add(10, attrs)
    c.add(100, {"route": "/a"})
    got = {p.attrs["route"]: p.value for p in only(MetricReader(state=state).collect(), "c")}
    assert got == {"/a": 101, "/b": 10}


def test_fresh_dicts_count_under_their_contents_and_bad_ones_every_time() -> None:
    """A new dict per measurement (FastAPI builds its attributes per request), in either key
    order or with a list value, counts in the series of its contents; one with an attribute
    that is dropped is counted as dropped at every measurement, not only the first."""
    state = MetricsState()
    c = counter(state)
    kept = []  # alive, so that each dict has an address of its own
    for i in range(100):
        ok = {"route": "/a", "status": 200} if i % 2 else {"status": 200, "route": "/a"}
        tagged = {"route": "/t", "tags": ["x", "y"]}
        bad = {"route": "/b", "bad": object()}
        kept += [ok, tagged, bad]
        c.add(1, ok)
        c.add(1, tagged)
        c.add(1, bad)
    got = {p.attrs["route"]: p.value for p in only(MetricReader(state=state).collect(), "c")}
    assert got == {"/a": 100, "/t": 100, "/b": 100}
    assert state.dropped["bad_attribute"] == 100


def test_the_cardinality_limit_sends_the_excess_to_one_overflow_series() -> None:
    """Past the limit, new attribute sets go to otel.metric.overflow=true, every such
    measurement counted; known sets keep counting in their own series."""
    state = MetricsState(cardinality_limit=50)
    c = counter(state)
    for i in range(80):
        c.add(1, {"user": i})
    c.add(5, {"user": 0})
    points = only(MetricReader(state=state).collect(), "c")
    assert len(points) == 50
    overflow = [p for p in points if p.attrs == {"otel.metric.overflow": True}]
    assert [p.value for p in overflow] == [31]
    assert c.overflowed == state.overflowed() == 31
    assert sum(p.value for p in points) == 85


def test_an_instrument_registered_twice_is_the_same_one() -> None:
    """The same name (in any case), kind and unit gives back the first instrument."""
    state = MetricsState()
    assert state.instrument(SCOPE, "counter", "Orders", "1") is state.instrument(
        SCOPE, "counter", "orders", "1"
    )


def test_a_conflicting_registration_drops_its_measurements() -> None:
    """Another kind or unit under a registered name: its measurements are dropped and counted;
    the first registration is the one collected."""
    state = MetricsState()
    first = counter(state, "x")
    second = state.instrument(SCOPE, "histogram", "x", "s")
    first.add(1)
    second.record(3)  # type: ignore[attr-defined]
    assert state.dropped["conflicting_instrument"] == 1
    (m,) = MetricReader(state=state).collect()
    assert (m.aggregation, m.points[0].value) == ("sum", 1)


def test_measurements_from_threads_are_all_counted() -> None:
    """Concurrent adds and records from threads lose nothing."""
    state = MetricsState()
    c, h = counter(state), histogram(state)
    attrs = {"a": 1, "b": "x", "c": True}

    def work() -> None:
        for _ in range(5000):
            c.add(1, attrs)
            h.record(0.1, attrs)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = MetricReader(state=state).collect()
    assert [p.value for p in only(got, "c")] == [20000]
    assert [p.count for p in only(got, "h")] == [20000]


def test_the_fast_path_allocates_nothing_once_the_set_exists() -> None:
    """Recording into a known attribute set leaves no memory behind (no key, no copy)."""
    state = MetricsState()
    h = histogram(state)
    attrs = {"http.request.method": "GET", "http.route": "/a", "http.response.status_code": 200}
    h.record(0.01, attrs)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(10000):
            h.record(0.02, attrs)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = [
        s for s in after.compare_to(before, "filename") if "telemetry/_metrics" in str(s.traceback)
    ]
    # At most the running sum (a float made after tracing began): nothing per measurement.
    assert sum(s.size_diff for s in grown) <= 64


def test_the_default_buckets_are_the_sdks() -> None:
    """Without advice, a histogram has the OpenTelemetry SDK's default boundaries."""
    state = MetricsState()
    h = state.instrument(SCOPE, "histogram", "plain", "ms")
    assert isinstance(h, Histogram) and h.bounds == DEFAULT_BUCKETS
    h.record(7)
    (p,) = only(MetricReader(state=state).collect(), "plain")
    assert p.buckets[2] == 1  # (5, 10]


def test_gauges_keep_the_last_value_and_up_down_counters_go_both_ways() -> None:
    """A gauge reports the last value set; an up-down counter the running sum."""
    state = MetricsState()
    g = state.instrument(SCOPE, "gauge", "g", "Cel")
    u = state.instrument(SCOPE, "up_down_counter", "u", "{request}")
    for v in (3, 1.5, 2):
        g.set(v)  # type: ignore[attr-defined]
    for v in (1, 1, -1):
        u.add(v)  # type: ignore[attr-defined]
    got = MetricReader("delta", state=state).collect()
    assert [(m.name, m.temporality, [p.value for p in m.points]) for m in got] == [
        ("g", "cumulative", [2]),
        ("u", "cumulative", [1]),
    ]
    assert all(isinstance(p, NumberPoint) for m in got for p in m.points)


def test_a_reader_refuses_an_unknown_temporality() -> None:
    """Only cumulative, delta and lowmemory are temporality preferences."""
    with pytest.raises(ValueError, match="temporality"):
        MetricReader("sometimes")
