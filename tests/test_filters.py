"""Call filters and handler filters: levels, namespaces, kinds, ids, sampling, when, rate limits."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import telemetry as tel
from telemetry import ConfigError, RateLimiter, Telemetry
from telemetry._filters import LevelSpec, NameFilter, parse_rate
from telemetry.sinks import MemorySink


async def emit_levels(hub: Telemetry) -> None:
    for level in ("trace", "debug", "info", "warn", "error", "fatal"):
        await hub.log(level, level)


async def test_global_min_level() -> None:
    """Signals below the hub's min_level are refused; the rest pass."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}, min_level="warn") as hub:
        await emit_levels(hub)
    assert [s.msg for s in sink.signals] == ["warn", "error", "fatal"]


async def test_a_refused_signal_returns_false_and_builds_nothing() -> None:
    """Below the level, the creator returns False without capturing a frame or a signal."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}, min_level="info") as hub:
        assert await hub.log("debug", "no") is False
        assert hub.log_nowait("debug", "no") is False
        assert await hub.log("info", "yes") is True
    assert hub.stats().emitted == 1
    assert len(hub._sites.cache) <= 1, "the refused call sites were never looked up"


async def test_namespace_levels_most_specific_wins() -> None:
    """{'app.db.*': 'warn', 'app.*': 'debug'}: the most specific pattern decides."""
    sink = MemorySink()
    levels = {"app.db.*": "warn", "app.*": "debug", "*": "error"}
    async with Telemetry(handlers={"m": sink}, min_level=levels) as hub:
        for ns in ("app.db.pool", "app.web", "other"):
            for level in ("debug", "info", "warn", "error"):
                await hub.signal(f"{ns}:{level}", level=level, ns=ns)
    assert [s.msg for s in sink.signals] == [
        "app.db.pool:warn",
        "app.db.pool:error",
        "app.web:debug",
        "app.web:info",
        "app.web:warn",
        "app.web:error",
        "other:error",
    ]


async def test_namespace_defaults_to_the_calling_module() -> None:
    """Without ns=, a signal's namespace is the calling module's __name__, and ns filters use it."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}, ns_filter={"deny": "tests.*"}) as hub:
        await hub.log("info", "from a test module")
        await hub.signal("explicit", ns="app.web")
    assert [(s.ns, s.msg) for s in sink.signals] == [("app.web", "explicit")]


async def test_kind_and_id_allow_and_deny() -> None:
    """Kind and id patterns: allow lists, deny lists, deny wins."""
    sink = MemorySink()
    async with Telemetry(
        handlers={"m": sink},
        kind_filter=["event", "log"],
        id_filter={"allow": "user.*", "deny": "user.secret*"},
    ) as hub:
        await hub.event("user.login")
        await hub.event("user.secret_rotated")
        await hub.event("order.placed")
        await hub.signal("a span", kind="span", id="user.view")
        await hub.log("info", "no id")  # id None fails an allow list
    assert [s.id for s in sink.signals] == ["user.login"]


async def test_when_predicate_sees_the_built_signal() -> None:
    """A `when` predicate receives the signal and can refuse it; one that raises refuses."""
    sink = MemorySink()

    def when(sig: tel.Signal) -> bool:
        if sig.data.get("explode"):
            raise RuntimeError("predicate bug")
        return sig.data.get("user") != "bot"

    async with Telemetry(handlers={"m": sink}, when=when) as hub:
        await hub.log("info", "a", user="alice")
        await hub.log("info", "b", user="bot")
        await hub.log("info", "c", explode=True)
    assert [s.msg for s in sink.signals] == ["a"]
    assert hub.stats().refused == 2


async def test_sampling_keeps_about_the_rate_and_never_drops_errors() -> None:
    """sample=0.2 keeps about a fifth; errors are never sampled away unless asked for."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": {"sink": sink, "buffer_size": 10_000}}, sample=0.2) as hub:
        for _ in range(5000):
            await hub.log("info", "sampled")
        for _ in range(50):
            await hub.log("error", "kept")
            await hub.error(ValueError("kept too"))
    kept = sum(1 for s in sink.signals if s.msg == "sampled")
    assert 700 < kept < 1300
    assert sum(1 for s in sink.signals if s.level == "error") == 100


async def test_errors_are_sampled_when_asked() -> None:
    """sample_errors=True subjects errors to sampling too (without it, the same error at the
    same rate is kept)."""
    kept, sampled = MemorySink(), MemorySink()
    async with Telemetry(handlers={"m": kept}, sample=0.0) as hub:
        await hub.log("error", "kept")
    async with Telemetry(handlers={"m": sampled}, sample=0.0, sample_errors=True) as hub:
        await hub.log("error", "gone")
    assert [s.msg for s in kept.signals] == ["kept"]
    assert sampled.signals == []


async def test_per_call_sample_records_the_rate() -> None:
    """signal(sample=...) keeps about that fraction and records the rate in the signal."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": {"sink": sink, "buffer_size": 10_000}}) as hub:
        for _ in range(2000):
            await hub.signal("s", sample=0.5)
        await hub.signal("never", sample=0.0)
    assert 800 < len(sink.signals) < 1200
    assert {s.sample for s in sink.signals} == {0.5}


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def test_rate_limiter_windows_and_keys() -> None:
    """Every window must have room; keys are limited independently; windows reset."""
    clock = FakeClock()
    rl = RateLimiter(["2/s", "3/m"], clock=clock)
    assert [rl.allow("a") for _ in range(3)] == [True, True, False]
    assert rl.allow("b"), "another key has its own budget"
    clock.now += 1_000_000_000
    assert rl.allow("a")
    assert not rl.allow("a"), "the minute window is spent"
    clock.now += 60 * 1_000_000_000
    assert rl.allow("a")


async def test_rate_limits_on_the_hub_keyed_per_id_or_value() -> None:
    """A hub rate limit counts per id by default, or per limit_by(signal)."""
    sink = MemorySink()
    async with Telemetry(
        handlers={"m": sink}, rate_limit="3/h", limit_by=lambda s: s.data.get("user")
    ) as hub:
        for user in ("alice", "bob"):
            for _ in range(5):
                await hub.event("login", user=user)
    assert [s.data["user"] for s in sink.signals] == ["alice"] * 3 + ["bob"] * 3


async def test_per_call_rate_limit() -> None:
    """signal(rate_limit=...) limits that call site, per limit_by value."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}) as hub:
        for i in range(10):
            await hub.signal("hot", id="hot.path", rate_limit="2/h", limit_by=i % 2)
    assert len(sink.signals) == 4


async def test_handler_filters_apply_after_call_filters() -> None:
    """Handler filters only narrow: a handler never sees what the call filters refused."""
    everything, warnings, events = MemorySink(), MemorySink(), MemorySink()
    async with Telemetry(
        handlers={
            "all": everything,
            "warn": {"sink": warnings, "min_level": "warn"},
            "events": {"sink": events, "kind_filter": "event", "min_level": "trace"},
        },
        min_level="info",
    ) as hub:
        await hub.log("debug", "refused by the hub")
        await hub.log("info", "info")
        await hub.log("error", "error")
        await hub.event("e.debug", level="debug")
        await hub.event("e.info")
    assert [s.msg or s.id for s in everything.signals] == ["info", "error", "e.info"]
    assert [s.msg for s in warnings.signals] == ["error"]
    assert [s.id for s in events.signals] == ["e.info"]
    assert hub.stats().handlers["warn"].filtered == 2


async def test_handler_sampling_and_rate_limit() -> None:
    """Per-handler sample and rate limit act on that handler alone."""
    limited, all_ = MemorySink(), MemorySink()
    async with Telemetry(
        handlers={"limited": {"sink": limited, "rate_limit": "5/h"}, "all": all_}
    ) as hub:
        for i in range(20):
            await hub.event("tick", i=i)
    assert len(limited.signals) == 5
    assert len(all_.signals) == 20


async def test_set_min_level_while_running_from_another_thread() -> None:
    """set_min_level() changes filtering at once, and is safe from another thread."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}, min_level="info") as hub:
        await hub.log("debug", "before")
        t = threading.Thread(target=hub.set_min_level, args=("debug",))
        t.start()
        t.join()
        await hub.log("debug", "after")
        hub.set_min_level({"tests.*": "error", "*": "info"})
        await hub.log("warn", "quiet module")
        await hub.signal("loud module", level="warn", ns="app")
    assert [s.msg for s in sink.signals] == ["after", "loud module"]


async def test_disabled_by_environment() -> None:
    """TELEMETRY_DISABLED=1: every creator returns at once; nothing is emitted."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}, env={"TELEMETRY_DISABLED": "1"}) as hub:
        assert await hub.log("fatal", "x") is False
        assert await hub.error(ValueError("y")) is not None
    assert sink.signals == []


async def test_min_level_from_environment_overrides_code() -> None:
    """TELEMETRY_MIN_LEVEL wins over the min_level given in code (an operator's switch)."""
    sink = MemorySink()
    async with Telemetry(
        handlers={"m": sink}, min_level="error", env={"TELEMETRY_MIN_LEVEL": "debug"}
    ) as hub:
        await hub.log("debug", "shown")
    assert [s.msg for s in sink.signals] == ["shown"]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"sample": -0.1}, "sample"),
        ({"sample": "half"}, "sample"),
        ({"rate_limit": "ten per sec"}, "rate_limit"),
        ({"rate_limit": "0/s"}, "rate_limit"),
        ({"rate_limit": []}, "rate_limit"),
        ({"ns_filter": {"allow": "a", "block": "b"}}, "ns_filter key"),
        ({"id_filter": ""}, "id_filter"),
        ({"min_level": {"app.*": "chatty"}}, "min_level['app.*']"),
        ({"env": {"TELEMETRY_SYNC": "maybe"}}, "TELEMETRY_SYNC"),
        ({"env": {"TELEMETRY_MIN_LEVEL": "loud"}}, "TELEMETRY_MIN_LEVEL"),
        ({"env": {"TELEMETRY_FORMAT": "xml"}}, "TELEMETRY_FORMAT"),
    ],
)
def test_bad_filters_name_the_argument(kwargs: dict[str, object], param: str) -> None:
    """A malformed filter raises ConfigError naming the argument."""
    with pytest.raises(ConfigError) as info:
        Telemetry(**kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


async def test_bad_per_call_sample_raises() -> None:
    """A per-call sample outside [0, 1] is a programming error."""
    async with Telemetry(handlers={"m": MemorySink()}) as hub:
        with pytest.raises(ConfigError, match="sample"):
            await hub.signal("x", sample=2.0)


# -- properties --------------------------------------------------------------------------------

_names = st.text(alphabet="abcxyz.", min_size=1, max_size=12)


@given(name=_names, prefix=st.text(alphabet="abc", min_size=1, max_size=4))
def test_glob_prefix_patterns(name: str, prefix: str) -> None:
    """'p.*' matches exactly the names under 'p.'; 'p(.*)' also matches 'p' itself."""
    assert NameFilter(f"{prefix}.*", param="x").allows(name) == name.startswith(f"{prefix}.")
    assert NameFilter(f"{prefix}(.*)", param="x").allows(name) == (
        name == prefix or name.startswith(f"{prefix}.")
    )


@given(name=_names, allow=_names, deny=_names)
def test_deny_always_wins(name: str, allow: str, deny: str) -> None:
    """A name matching the deny list is refused whatever the allow list says."""
    f = NameFilter({"allow": [allow, "*"], "deny": deny}, param="x")
    assert f.allows(name) == (name != deny)


@given(
    count=st.integers(min_value=1, max_value=10_000),
    n=st.integers(min_value=1, max_value=99),
    unit=st.sampled_from(["ms", "s", "m", "h", "d"]),
)
def test_rate_specs_parse(count: int, n: int, unit: str) -> None:
    """'C/Nu' parses to (C, N units in ns) for every unit."""
    scale = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
    assert parse_rate(f"{count}/{n}{unit}") == ((count, n * scale[unit]),)


@given(st.lists(st.sampled_from(["trace", "debug", "info", "warn", "error", "fatal"]), min_size=1))
def test_level_floor_is_the_lowest_level(levels: list[str]) -> None:
    """The floor of a namespace level map is the lowest level it names."""
    spec = LevelSpec({f"ns{i}.*": lv for i, lv in enumerate(levels)}, default="fatal")
    assert spec.floor == min(tel.Level[lv.upper()] for lv in levels)
