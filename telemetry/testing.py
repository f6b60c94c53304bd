"""Helpers for testing code that emits signals, usable with or without pytest.

[`capture_signals`][telemetry.testing.capture_signals] collects every signal any hub dispatches
while it is active, at the moment it is dispatched (no queue, no flush, no race), including signals
printed by the stderr
fallback when no hub is open:

```python
from telemetry.testing import capture_signals

async def test_checkout():
    with capture_signals() as captured:
        await checkout(cart)
    captured.assert_emitted(id="checkout.done", level="info", data={"items": 3})
```

Criteria match exactly, or by a compiled regular expression (searched), or by a predicate;
``contains=`` matches a substring of the message and ``where=`` a predicate on the whole signal.
[`Captured.text`][telemetry.testing.Captured.text] gives the captured signals as readable lines,
[`Captured.at_level`][telemetry.testing.Captured.at_level] lowers a hub's minimum level for a block
(signals refused by the level are never built, so never captured), and
[`Captured.clear`][telemetry.testing.Captured.clear] (or
[`Captured.take`][telemetry.testing.Captured.take]) starts a new phase.

The pytest plugin (registered automatically) offers the same as the ``tel_capture`` fixture.
[`make_signal`][telemetry.testing.make_signal] builds a signal by hand, for testing sinks and
formats.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ._signal import LABEL_OF, ProcessInfo, Signal, new_uid, parse_level
from ._taps import add_tap, remove_tap
from .formats.text import TextFormat

if TYPE_CHECKING:
    from ._hub import Telemetry

__all__ = ["Captured", "Match", "capture_signals", "make_signal"]

Match = object
"""A criterion: the value itself (equal), a compiled regular expression (searched in the value,
which must be a string), or a predicate called with the value."""


def _matches(want: object, value: object) -> bool:
    if isinstance(want, re.Pattern):
        return isinstance(value, str) and want.search(value) is not None
    if callable(want) and not isinstance(want, type):
        return bool(want(value))
    return bool(value == want)


def _contains(wanted: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    return all(k in values and _matches(v, values[k]) for k, v in wanted.items())


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
        """Forget what was captured so far: the next phase of a test starts empty."""
        self.signals.clear()

    def take(self) -> list[Signal]:
        """The signals captured so far, forgetting them
        ([`clear`][telemetry.testing.Captured.clear]) in the same step."""
        taken = list(self.signals)
        del self.signals[: len(taken)]
        return taken

    @property
    def text(self) -> str:
        """The captured signals as readable lines (the console's text format, no colour,
        tracebacks included), one per signal, each ending in a newline: for a quick
        ``assert "payment failed" in tel_capture.text``."""
        fmt = TextFormat(traceback=True)
        return "".join(fmt.format(sig) + "\n" for sig in self.signals)

    @contextmanager
    def at_level(self, level: str | int, *, hub: Telemetry | None = None) -> Iterator[None]:
        """Lower (or raise) the minimum level of a hub for the block, then put back exactly
        what it was (per-namespace levels included):

        ```python
        with tel_capture.at_level("debug"):
            run_the_code()
        tel_capture.assert_emitted(level="debug", contains="cache miss")
        ```

        Args:
            level: The minimum level during the block, a name or number.
            hub: The hub; by default the default hub (or the stderr fallback when none is
                open).
        """
        if hub is None:
            from ._default import current_hub

            hub = current_hub()
        before = hub.set_min_level(level)
        try:
            yield
        finally:
            hub.set_min_level(before)

    def filter(
        self,
        *,
        level: str | None = None,
        min_level: str | None = None,
        id: Match | None = None,
        kind: Match | None = None,
        ns: Match | None = None,
        msg: Match | None = None,
        contains: str | None = None,
        data: Mapping[str, Any] | None = None,
        ctx: Mapping[str, Any] | None = None,
        where: Callable[[Signal], bool] | None = None,
    ) -> list[Signal]:
        """The signals matching every given criterion.

        Args:
            level: The signal's level, exactly (a name or number).
            min_level: The signal's level at least.
            id: The signal's id: a value matched exactly, a compiled regular expression
                (``re.compile("pay(ment)?")``, searched), or a predicate.
            kind: The signal's kind, matched as ``id`` is.
            ns: The signal's namespace, matched as ``id`` is.
            msg: The signal's message, matched as ``id`` is.
            contains: A substring of the message.
            data: Keys the signal's data contains, each value matched as ``id`` is.
            ctx: Keys the signal's context contains, matched as ``data`` is.
            where: A predicate on the signal.

        Returns:
            The matching signals, in the order they were captured.
        """
        floor = parse_level(min_level, "min_level") if min_level is not None else None
        label = LABEL_OF.get(parse_level(level), level) if level is not None else None
        out = []
        for sig in self.signals:
            if label is not None and sig.level != label:
                continue
            if floor is not None and sig.severity < floor:
                continue
            if id is not None and not _matches(id, sig.id):
                continue
            if kind is not None and not _matches(kind, sig.kind):
                continue
            if ns is not None and not _matches(ns, sig.ns):
                continue
            if msg is not None and not _matches(msg, sig.msg):
                continue
            if contains is not None and (sig.msg is None or contains not in sig.msg):
                continue
            if data is not None and not _contains(data, sig.data):
                continue
            if ctx is not None and not _contains(ctx, sig.ctx):
                continue
            if where is not None and not where(sig):
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
        """Assert that a signal matching ``criteria`` was emitted.

        Args:
            count: How many matching signals there must be; by default at least one.
            **criteria: As for [`filter`][telemetry.testing.Captured.filter].

        Returns:
            The last matching signal.

        Raises:
            AssertionError: No signal matches, or not ``count`` of them; the message shows
                the last signals captured.
        """
        __tracebackhide__ = True  # pytest shows a failure at the test's line, not in here
        found = self.filter(**criteria)
        if not found or (count is not None and len(found) != count):
            seen = "\n  ".join(_describe(s) for s in self.signals[-20:]) or "(none)"
            want = f"{count} signals" if count is not None else "a signal"
            raise AssertionError(
                f"expected {want} matching {criteria}, found {len(found)}; last captured:\n  {seen}"
            )
        return found[-1]

    def assert_not_emitted(self, **criteria: Any) -> None:
        """Assert that no signal matching ``criteria`` was emitted.

        Args:
            **criteria: As for [`filter`][telemetry.testing.Captured.filter].

        Raises:
            AssertionError: A signal matches; the message shows the first.
        """
        __tracebackhide__ = True
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
    """A signal with sensible defaults (now, a fresh uid, this host and pid), for example
    ``make_signal("hi", id="x", data={"k": 1})``.

    Args:
        msg: The message.
        level: A level name or number.
        kind: The signal's kind.
        **fields: Any other field of [`Signal`][telemetry.Signal].

    Returns:
        The signal.
    """
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
