"""Shared test configuration.

A test that needs a real receiver (rsyslogd, systemd-journald, ...) calls :func:`require`: on a
developer's machine a missing receiver skips the test with the reason; under ``CI`` it fails,
because CI must run every test.

A test module that needs an optional package (an extra's, or a test tool only some installs
have) calls :func:`needs` before importing it. ``.ci/run`` also runs the suite against the built
wheel in installs that lack packages on purpose, naming the install in
``TELEMETRY_TEST_PROFILE`` (``core``, ``fastapi``, ``all``): there a missing package skips the
module with the reason, even under ``CI``; in CI's full run (no profile) it fails.

Every test must leave no hub open: the default hub is global, so one left open would receive
the signals of every test after it. :func:`_no_hub_left_open` closes it and fails only the test
that left it.
"""

from __future__ import annotations

import importlib
import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import telemetry
from telemetry import Stats, _registry

if TYPE_CHECKING:
    from telemetry._metrics._state import MetricsState


def ci_switch(value: str | None) -> bool:
    """Whether a ``CI`` variable means "running under CI". Unset, empty, ``0``, ``false``,
    ``no`` and ``off`` (any case) do not; any other value does (``true``, ``1``, or a CI
    system's own name, as some set it)."""
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


#: Whether the suite runs under CI, where a test never skips for a missing receiver.
IN_CI = ci_switch(os.environ.get("CI"))
#: The install under test when ``.ci/run`` runs the suite against the wheel; "" otherwise.
PROFILE = os.environ.get("TELEMETRY_TEST_PROFILE", "")


def require(ok: bool, reason: str) -> None:
    """Skip (or, under CI, fail) the calling test unless ``ok``."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"CI must run every test, but: {reason}")
    pytest.skip(reason)


def needs(*modules: str) -> None:
    """Skip the calling test module unless every one of ``modules`` imports; under CI's full
    run (no ``TELEMETRY_TEST_PROFILE``), fail instead: that environment has everything."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            where = f"the {PROFILE!r} install" if PROFILE else "this environment"
            reason = f"needs {name}, which {where} lacks ({exc.name} is missing)"
            if IN_CI and not PROFILE:
                pytest.fail(f"CI must run every test, but: {reason}", pytrace=False)
            pytest.skip(reason, allow_module_level=True)


def assert_accounted(stats: Stats) -> None:
    """The accounting invariant: after close, every signal offered to a handler was written or
    counted as dropped under a reason, exactly."""
    for name, h in stats.handlers.items():
        assert h.queued == 0, f"{name}: {h.queued} still queued"
        assert h.emitted == h.written + h.dropped_total, (
            f"{name}: emitted {h.emitted} != written {h.written} + dropped {h.dropped}"
        )


def pytest_report_header() -> str:
    """Which ``telemetry`` is under test, and for which install."""
    return f"telemetry: {Path(telemetry.__file__).parent} (install: {PROFILE or 'development'})"


def pytest_configure(config: pytest.Config) -> None:
    """A run for an install profile must test the installed wheel, not the source tree."""
    if PROFILE:
        installed = Path(sysconfig.get_paths()["purelib"]).resolve()
        here = Path(telemetry.__file__).resolve()
        if installed not in here.parents:
            raise pytest.UsageError(
                f"install {PROFILE!r}: telemetry comes from {here}, not from {installed}"
            )


@pytest.fixture(autouse=True)
def _no_hub_left_open() -> Iterator[None]:
    """Fail the test that leaves a hub open (the default hub is global), after closing it, so
    that the tests after it start as they would alone."""
    before = list(_registry.stack)
    yield
    leaked = [hub for hub in _registry.stack if hub not in before]
    if not leaked:
        return
    message = (
        f"the test left {len(leaked)} hub(s) open: {leaked}; close it (async with, aclose, "
        "or with) before the test ends"
    )
    for hub in reversed(leaked):
        _close_leaked(hub)
    pytest.fail(message, pytrace=False)


def _close_leaked(hub: telemetry.Telemetry) -> None:
    """Close a hub whose test has ended: its loop is gone, so synchronously."""
    try:
        if hub._background is not None:  # with Telemetry(): its own loop, in a thread
            hub.__exit__(None, None, None)
        else:
            hub._close_at_exit()  # what is queued is written now, as at interpreter exit
    finally:
        _registry.remove(hub)


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
    """Every test starts and ends with the process's metrics empty, and the observable
    instruments it made forgotten after it: an OTLP sink of a later test would otherwise push
    what an earlier one measured, or what a callback it left behind observes at every
    collection. (Other instruments stay: code such as the middleware keeps its own.)"""
    from telemetry._metrics._observable import Observable
    from telemetry._metrics._state import STATE

    STATE.reset()
    before = set(STATE._instruments)
    yield
    with STATE._lock:
        for key in set(STATE._instruments) - before:
            if isinstance(STATE._instruments[key], Observable):
                del STATE._instruments[key]
    STATE.reset()
