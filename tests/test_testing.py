"""capture_signals() and the tel_capture pytest fixture."""

from __future__ import annotations

import re

import pytest

import telemetry as tel
from telemetry import Telemetry
from telemetry.sinks import MemorySink
from telemetry.testing import Captured, capture_signals


async def test_capture_sees_signals_synchronously_from_any_hub() -> None:
    """Signals are captured when emitted, before any worker runs, from every hub."""
    with capture_signals() as captured:
        async with Telemetry(handlers={"m": MemorySink()}) as hub:
            hub.log_nowait("info", "queued, not yet written", n=1)
            assert captured.messages() == ["queued, not yet written"]
            await hub.event("order.paid", amount=5)
        await tel.log("warn", "through the stderr fallback")
    assert captured.messages() == ["queued, not yet written", None, "through the stderr fallback"]


async def test_capture_helpers_filter_and_assert() -> None:
    """filter() and assert_emitted() match on level, id, kind and data subsets."""
    with capture_signals() as captured:
        async with Telemetry(handlers={"m": MemorySink()}, min_level="debug") as hub:
            await hub.event("cart.add", sku="A1", qty=2)
            await hub.log("debug", "detail")
            await hub.log("error", "boom", code=500)
    assert captured.ids() == ["cart.add", None, None]
    assert len(captured.filter(min_level="info")) == 2
    sig = captured.assert_emitted(id="cart.add", data={"qty": 2})
    assert sig.data["sku"] == "A1"
    captured.assert_emitted(level="error", count=1)
    captured.assert_not_emitted(level="fatal")
    with pytest.raises(AssertionError, match="expected a signal matching"):
        captured.assert_emitted(id="cart.remove")
    with pytest.raises(AssertionError, match="expected no signal"):
        captured.assert_not_emitted(kind="event")
    captured.clear()
    assert len(captured) == 0


async def test_capture_ends_with_the_block() -> None:
    """After the block, nothing more is captured."""
    async with Telemetry(handlers={"m": MemorySink()}) as hub:
        with capture_signals() as captured:
            await hub.log("info", "in")
        await hub.log("info", "out")
    assert isinstance(captured, Captured)
    assert captured.messages() == ["in"]


def test_the_pytest_plugin_fixture(pytester: pytest.Pytester) -> None:
    """The tel_capture fixture, registered by the pytest11 entry point, captures each test's
    signals and only that test's."""
    pytester.makeconftest("")
    pytester.makepyfile(
        """
        import telemetry as tel
        from telemetry import Telemetry
        from telemetry.sinks import MemorySink

        async def test_one(tel_capture):
            async with Telemetry(handlers={"m": MemorySink()}):
                await tel.event("user.signup", plan="pro")
            tel_capture.assert_emitted(id="user.signup", data={"plan": "pro"})
            assert len(tel_capture) == 1

        def test_two(tel_capture):
            tel.log_nowait("info", "sync code, no hub")
            assert tel_capture.messages() == ["sync code, no hub"]

        def test_three_fails(tel_capture):
            tel_capture.assert_emitted(id="never")
        """
    )
    result = pytester.runpytest(
        "-p",
        "asyncio",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*expected a signal matching {'id': 'never'}*"])


def test_a_failing_assertion_helper_stops_its_traceback_at_the_test(
    pytester: pytest.Pytester,
) -> None:
    """assert_emitted and assert_not_emitted fail at the test's own line: pytest's traceback
    shows the test and the message, and no line of telemetry/testing.py."""
    pytester.makeconftest("")
    pytester.makepyfile(
        """
        import telemetry as tel
        from telemetry.testing import capture_signals

        def test_missing():
            with capture_signals() as captured:
                tel.log_nowait("info", "hello")
            captured.assert_emitted(msg="goodbye")  # the line shown

        def test_unwanted():
            with capture_signals() as captured:
                tel.log_nowait("info", "hello")
            captured.assert_not_emitted(msg="hello")  # the line shown
        """
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "testing.py" not in out
    result.stdout.fnmatch_lines(
        [
            '>*captured.assert_emitted(msg="goodbye")  # the line shown',
            "E*AssertionError: expected a signal matching {'msg': 'goodbye'}, found 0*",
            '>*captured.assert_not_emitted(msg="hello")  # the line shown',
            "E*AssertionError: expected no signal matching {'msg': 'hello'}, found 1*",
        ]
    )


async def test_criteria_match_by_regex_predicate_and_substring() -> None:
    """msg, id, ns, kind and data values take a regex or a predicate; contains= a substring;
    where= a predicate on the signal."""
    with capture_signals() as captured:
        async with Telemetry(handlers={"m": MemorySink()}) as hub:
            await hub.log("info", "payment accepted", amount=120)
            await hub.log("warn", "payment retried", amount=15)
            await hub.event("cart.checkout", items=3)
    assert captured.messages() == ["payment accepted", "payment retried", None]
    assert len(captured.filter(msg=re.compile(r"^payment"))) == 2
    assert captured.filter(contains="retried")[0].level == "warn"
    assert captured.filter(msg=lambda m: m is not None and m.endswith("accepted"))[0].data == {
        "amount": 120
    }
    assert [s.msg for s in captured.filter(data={"amount": lambda a: a > 100})] == [
        "payment accepted"
    ]
    assert captured.filter(id=re.compile(r"\.checkout$"))[0].data == {"items": 3}
    assert len(captured.filter(ns=re.compile(r"^tests\."))) == 3
    assert len(captured.filter(where=lambda s: s.kind == "event")) == 1
    assert captured.filter(contains="nothing like this") == []
    captured.assert_emitted(msg=re.compile("retr"), level="warn", count=1)
    captured.assert_not_emitted(contains="refused")
    # a regex never matches a missing message; an exact string still means equal
    assert captured.filter(msg=re.compile(".*"), kind="event") == []
    assert captured.filter(msg="payment") == []


async def test_text_gives_the_captured_signals_as_readable_lines() -> None:
    with capture_signals() as captured:
        async with Telemetry(handlers={"m": MemorySink()}) as hub:
            await hub.log("info", "user joined", room="lobby")
            try:
                raise ValueError("bad input")
            except ValueError:
                await hub.exception("rejected")
    lines = captured.text.splitlines()
    assert "INFO  [tests.test_testing] user joined room=lobby" in lines[0]
    assert "ERROR [tests.test_testing] rejected" in lines[1]
    assert lines[-1] == "    ValueError: bad input"
    assert captured.text.endswith("\n")


async def test_at_level_lowers_the_level_for_the_block_only() -> None:
    """Debug signals refused by the hub's level are captured inside at_level("debug"); after
    the block the hub's levels, per-namespace ones included, are what they were."""
    levels = {"*": "info", "noisy.*": "error"}
    with capture_signals() as captured:
        async with Telemetry(handlers={"m": MemorySink()}, min_level=levels) as hub:
            await hub.log("debug", "before")
            with captured.at_level("debug"):
                await hub.log("debug", "inside")
                await hub.signal("noisy inside", level="debug", ns="noisy.lib")
            await hub.log("debug", "after")
            await hub.signal("noisy warn after", level="warn", ns="noisy.lib")
            await hub.signal("noisy error after", level="error", ns="noisy.lib")
    assert captured.messages() == ["inside", "noisy inside", "noisy error after"]


def test_at_level_defaults_to_the_fallback_without_a_hub() -> None:
    """With no hub open, the stderr fallback's level is the one lowered, and restored."""
    with capture_signals() as captured:
        tel.log_nowait("debug", "not captured")
        with captured.at_level("debug"):
            tel.log_nowait("debug", "captured")
        tel.log_nowait("debug", "not captured either")
    assert captured.messages() == ["captured"]


async def test_take_and_clear_split_a_test_into_phases() -> None:
    with capture_signals() as captured:
        async with Telemetry(handlers={"m": MemorySink()}) as hub:
            await hub.event("phase.one")
            first = captured.take()
            await hub.event("phase.two")
            assert captured.ids() == ["phase.two"]
            captured.clear()
            await hub.event("phase.three")
    assert [s.id for s in first] == ["phase.one"]
    assert captured.ids() == ["phase.three"]
