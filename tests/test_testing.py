"""capture_signals() and the tel_capture pytest fixture."""

from __future__ import annotations

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
