"""Middleware in the workers, and the redaction middleware."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

import telemetry as tel
from telemetry import Signal, Telemetry, redact
from telemetry._signal import error_info
from telemetry.sinks import MemorySink
from telemetry.testing import make_signal

from .conftest import assert_accounted


def add_version(sig: Signal) -> Signal:
    return replace(sig, data={**sig.data, "version": "1.2"})


def drop_health(sig: Signal) -> Signal | None:
    return None if sig.id == "health" else sig


def explode(sig: Signal) -> Signal:
    raise RuntimeError("middleware bug")


async def test_hub_and_handler_middleware_enrich_and_drop() -> None:
    """Hub middleware runs for every handler, then the handler's own; None drops (counted)."""
    plain, filtered = MemorySink(), MemorySink()
    hub = Telemetry(
        handlers={"plain": plain, "filtered": {"sink": filtered, "middleware": [drop_health]}},
        middleware=[add_version],
    )
    async with hub:
        await hub.event("health")
        await hub.event("order.paid", amount=3)
    assert [(s.id, s.data) for s in plain.signals] == [
        ("health", {"version": "1.2"}),
        ("order.paid", {"amount": 3, "version": "1.2"}),
    ]
    assert [s.id for s in filtered.signals] == ["order.paid"]
    stats = hub.stats()
    assert stats.handlers["filtered"].dropped == {"middleware": 1}
    assert_accounted(stats)


async def test_a_raising_middleware_drops_nothing_else() -> None:
    """A middleware that raises is counted; the signal goes on unchanged; the caller sees
    nothing."""
    sink = MemorySink()
    hub = Telemetry(handlers={"m": {"sink": sink, "middleware": [explode, add_version]}})
    async with hub:
        await hub.log("info", "still written")
    (sig,) = sink.signals
    assert sig.data == {"version": "1.2"}
    assert hub.stats().handlers["m"].middleware_errors == 1


async def test_middleware_runs_in_the_worker_not_the_caller() -> None:
    """Middleware never runs on the emitting path: it sees the worker's task."""
    import asyncio

    seen: list[str] = []

    def record_task(sig: Signal) -> Signal:
        task = asyncio.current_task()
        seen.append(task.get_name() if task else "?")
        return sig

    async with Telemetry(
        handlers={"m": {"sink": MemorySink(), "middleware": [record_task]}}
    ) as hub:
        await hub.log("info", "x")
        assert seen == []
    assert seen and seen[0].startswith("telemetry-worker-m")


def test_redact_replaces_sensitive_values_at_any_depth() -> None:
    """Keys like Password / api_key / Authorization are redacted case-insensitively, nested
    and inside lists, in data and ctx; other values are untouched."""
    mw = redact()
    sig = make_signal(
        "login",
        data={
            "user": "alice",
            "Password": "hunter2",
            "headers": {"Authorization": "Bearer x", "accept": "json"},
            "attempts": [{"token": "t1"}, {"note": "fine"}],
        },
        ctx={"api_key": "k", "request_id": "r"},
    )
    out = mw(sig)
    assert out.data == {
        "user": "alice",
        "Password": "[REDACTED]",
        "headers": {"Authorization": "[REDACTED]", "accept": "json"},
        "attempts": [{"token": "[REDACTED]"}, {"note": "fine"}],
    }
    assert out.ctx == {"api_key": "[REDACTED]", "request_id": "r"}
    assert sig.data["Password"] == "hunter2", "the original signal is not modified"


def test_redact_with_custom_keys_and_no_copy_when_clean() -> None:
    """A custom key list is honoured; a signal with nothing to redact is passed as it is."""
    mw = redact(["ssn"], replacement="***")
    clean = make_signal("x", data={"password": "visible here"})
    assert mw(clean) is clean
    assert mw(make_signal("x", data={"SSN": "123"})).data == {"SSN": "***"}


@given(
    st.dictionaries(
        st.sampled_from(["password", "token", "name", "Secret", "x"]), st.text(), max_size=5
    )
)
def test_redact_never_leaks_a_sensitive_key(data: dict[str, str]) -> None:
    """After redaction no sensitive key holds anything but the marker."""
    out = redact()(make_signal("x", data=data))
    for k, v in out.data.items():
        if k.lower() in tel.DEFAULT_REDACT_KEYS:
            assert v == "[REDACTED]"
        else:
            assert v == data[k]


def test_redact_has_no_depth_limit() -> None:
    """A secret 5,000 levels deep is redacted (the walk does not recurse)."""
    deep: dict[str, object] = {}
    cur = deep
    for _ in range(5000):
        nxt: dict[str, object] = {}
        cur["n"] = nxt
        cur = nxt
    cur["password"] = "hunter2"
    out = redact()(make_signal("x", data={"deep": deep}))
    node = out.data["deep"]
    for _ in range(5000):
        node = node["n"]
    assert node == {"password": "[REDACTED]"}


def test_redact_walks_tuples_sets_and_header_pairs() -> None:
    """Mappings inside tuples, and (name, value) pairs in lists, tuples and sets (headers as
    ASGI gives them, bytes names included) are redacted; their container types are kept."""
    sig = make_signal(
        "x",
        data={
            "batch": ({"token": "t1"}, {"ok": 1}),
            "headers": [(b"authorization", b"Bearer t2"), (b"accept", b"json")],
            "pairs": {("api_key", "t3"), ("page", "2")},
        },
    )
    out = redact()(sig).data
    assert out["batch"] == ({"token": "[REDACTED]"}, {"ok": 1})
    assert out["headers"] == [(b"authorization", "[REDACTED]"), (b"accept", b"json")]
    assert out["pairs"] == {("api_key", "[REDACTED]"), ("page", "2")}


_SECRET_KEYS = ["db_password", "PASSWORD_HASH", "user_token", "X-Auth-Token", "client_secret_v2",
                "stripe_api_key", "X-API-Key", "sessionid", "session_cookie"]  # fmt: skip


@pytest.mark.parametrize("key", _SECRET_KEYS)
def test_redact_matches_key_patterns(key: str) -> None:
    """*password*, *token*, *secret*, *api_key* and *session* match anywhere in a key,
    case-insensitively, '-' read as '_'."""
    out = redact()(make_signal("x", data={key: "s3cret", "user": "ada"}))
    assert out.data == {key: "[REDACTED]", "user": "ada"}


def test_redact_scrubs_query_parameters_and_patterns_in_text() -> None:
    """Secret name=value pairs in the message and in the exception's message (and its cause's)
    are replaced; text_patterns replace whatever they match."""
    try:
        try:
            raise OSError("GET https://api/x?api_key=k1&page=2 failed")
        except OSError as cause:
            raise RuntimeError("retry with password=k2 gave up") from cause
    except RuntimeError as exc:
        err = exc
    mw = redact(text_patterns=[r"Bearer \S+"])
    sig = make_signal("call /v1?token=k3&q=shoes with Bearer k4", error=error_info(err))
    out = mw(sig)
    assert out.msg == "call /v1?token=[REDACTED]&q=shoes with [REDACTED]"
    assert out.error is not None and out.error.cause is not None
    assert out.error.message == "retry with password=[REDACTED] gave up"
    assert out.error.cause.message == "GET https://api/x?api_key=[REDACTED]&page=2 failed"
