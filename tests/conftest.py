"""Shared test configuration.

A test that needs a real receiver (rsyslogd, systemd-journald, ...) calls :func:`require`: on a
developer's machine a missing receiver skips the test with the reason; under ``CI`` it fails,
because CI must run every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from telemetry import Stats

if TYPE_CHECKING:
    from telemetry._metrics._state import MetricsState


def ci_switch(value: str | None) -> bool:
    """Whether a ``CI`` variable means "running under CI". Unset, empty, ``0``, ``false``,
    ``no`` and ``off`` (any case) do not; any other value does (``true``, ``1``, or a CI
    system's own name, as some set it)."""
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


#: Whether the suite runs under CI, where a test never skips for a missing receiver.
IN_CI = ci_switch(os.environ.get("CI"))


def require(ok: bool, reason: str) -> None:
    """Skip (or, under CI, fail) the calling test unless ``ok``."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"CI must run every test, but: {reason}")
    pytest.skip(reason)


def assert_accounted(stats: Stats) -> None:
    """The accounting invariant: after close, every signal offered to a handler was written or
    counted as dropped under a reason, exactly."""
    for name, h in stats.handlers.items():
        assert h.queued == 0, f"{name}: {h.queued} still queued"
        assert h.emitted == h.written + h.dropped_total, (
            f"{name}: emitted {h.emitted} != written {h.written} + dropped {h.dropped}"
        )


@pytest.fixture
def metrics_state() -> Iterator[MetricsState]:
    """The process's metrics state, empty and switched off, for the test; emptied again after
    it (the instruments stay registered, as their owners keep them)."""
    from telemetry._metrics._state import STATE

    was = STATE.enabled
    STATE.reset()
    STATE.enabled = False
    try:
        yield STATE
    finally:
        STATE.reset()
        STATE.enabled = was


@pytest.fixture(autouse=True)
def _no_measurements_left_behind() -> Iterator[None]:
    """Every test starts and ends with the process's metrics empty: an OTLP sink of a later
    test would otherwise push what an earlier one measured."""
    from telemetry._metrics._state import STATE

    STATE.reset()
    yield
    STATE.reset()
