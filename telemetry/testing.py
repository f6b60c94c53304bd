"""Helpers for testing code that emits signals, usable with or without pytest.

:func:`capture_signals` collects every signal any hub dispatches while it is active, at the
moment it is dispatched (no queue, no flush, no race), including signals printed by the stderr
fallback when no hub is open::

    from telemetry.testing import capture_signals

    async def test_checkout():
        with capture_signals() as captured:
            await checkout(cart)
        captured.assert_emitted(id="checkout.done", level="info", data={"items": 3})

The pytest plugin (registered automatically) offers the same as the ``tel_capture`` fixture.
:func:`make_signal` builds a signal by hand, for testing sinks and formats.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ._signal import LABEL_OF, ProcessInfo, Signal, new_uid, parse_level
from ._taps import add_tap, remove_tap

__all__ = ["Captured", "capture_signals", "make_signal"]

_UNSET: Any = object()


class Captured:
    """The signals captured so far, oldest first, with helpers to filter and assert on them."""

    def __init__(self) -> None:
        self.signals: list[Signal] = []

    def _tap(self, sig: Signal) -> None:
        self.signals.append(sig)

    def __len__(self) -> int:
        return len(self.signals)

    def __iter__(self) -> Iterator[Signal]:
        return iter(self.signals)

    def __getitem__(self, index: int) -> Signal:
        return self.signals[index]

    def clear(self) -> None:
        """Forget what was captured so far."""
        self.signals.clear()

    def filter(
        self,
        *,
        level: str | None = None,
        min_level: str | None = None,
        id: str | None = None,
        kind: str | None = None,
        ns: str | None = None,
        msg: str | None = None,
        data: Mapping[str, Any] | None = None,
        ctx: Mapping[str, Any] | None = None,
    ) -> list[Signal]:
        """The signals matching every given criterion. ``data`` and ``ctx`` match when they
        contain the given key/values (other keys may be present)."""
        floor = parse_level(min_level, "min_level") if min_level is not None else None
        out = []
        for sig in self.signals:
            if level is not None and sig.level != LABEL_OF.get(parse_level(level), level):
                continue
            if floor is not None and sig.severity < floor:
                continue
            if id is not None and sig.id != id:
                continue
            if kind is not None and sig.kind != kind:
                continue
            if ns is not None and sig.ns != ns:
                continue
            if msg is not None and sig.msg != msg:
                continue
            if data is not None and any(sig.data.get(k, _UNSET) != v for k, v in data.items()):
                continue
            if ctx is not None and any(sig.ctx.get(k, _UNSET) != v for k, v in ctx.items()):
                continue
            out.append(sig)
        return out

    def ids(self) -> list[str | None]:
        """The ids of the captured signals, in order."""
        return [s.id for s in self.signals]

    def messages(self) -> list[str | None]:
        """The messages of the captured signals, in order."""
        return [s.msg for s in self.signals]

    def assert_emitted(self, *, count: int | None = None, **criteria: Any) -> Signal:
        """Assert that a signal matching ``criteria`` (see :meth:`filter`) was emitted, exactly
        ``count`` times if given; return the last match."""
        found = self.filter(**criteria)
        if not found or (count is not None and len(found) != count):
            seen = "\n  ".join(_describe(s) for s in self.signals[-20:]) or "(none)"
            want = f"{count} signals" if count is not None else "a signal"
            raise AssertionError(
                f"expected {want} matching {criteria}, found {len(found)}; last captured:\n  {seen}"
            )
        return found[-1]

    def assert_not_emitted(self, **criteria: Any) -> None:
        """Assert that no signal matching ``criteria`` was emitted."""
        found = self.filter(**criteria)
        if found:
            raise AssertionError(
                f"expected no signal matching {criteria}, found {len(found)}: {_describe(found[0])}"
            )


def _describe(sig: Signal) -> str:
    return f"{sig.level} {sig.kind} id={sig.id!r} msg={sig.msg!r} data={sig.data!r}"


@contextmanager
def capture_signals() -> Iterator[Captured]:
    """Capture every signal dispatched by any hub while the block runs."""
    captured = Captured()
    add_tap(captured._tap)
    try:
        yield captured
    finally:
        remove_tap(captured._tap)


def make_signal(
    msg: str | None = "test", *, level: str | int = "info", kind: str = "log", **fields: Any
) -> Signal:
    """A signal with sensible defaults (now, a fresh uid, this host and pid); any field can be
    given, for example ``make_signal("hi", id="x", data={"k": 1})``."""
    base: dict[str, Any] = {
        "inst": time.time_ns(),
        "uid": new_uid(),
        "kind": kind,
        "level": LABEL_OF.get(parse_level(level), str(level)),
        "msg": msg,
        "host": ProcessInfo.host,
        "pid": os.getpid(),
    }
    base.update(fields)
    return Signal(**base)
