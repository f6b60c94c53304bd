"""``python -m telemetry stats``: what a set of JSON-lines files holds, in numbers.

Counts by level, kind and id, the error rate (signals at level ``error`` or above, over all the
signals counted), the first and last time, and the lines that are not signals by reason.
The same filters as ``tail`` apply (``--level``, ``--id``, ``--ns``, ``--since``, ``--where``,
``--grep``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TextIO

import msgspec

from .._signal import Level
from ..formats.text import escape, format_time
from .filters import SignalFilter, level_number, signal_level
from .reader import LineDecoder, Record, read_records

__all__ = ["DEFAULT_TOP", "LogStats", "StatsCollector", "collect", "render"]

DEFAULT_TOP = 20
"""How many ids the text output lists (``--top``); the JSON output has them all."""
PROG = "python -m telemetry"


class LogStats(msgspec.Struct, frozen=True, kw_only=True):
    """The numbers ``stats`` reports (its ``--json`` output is this struct)."""

    files: list[str]
    signals: int
    filtered: int
    not_signals: dict[str, int]
    by_level: dict[str, int]
    by_kind: dict[str, int]
    by_id: dict[str, int]
    without_id: int
    errors: int
    error_rate: float
    first_ns: int | None
    last_ns: int | None
    first: str | None
    last: str | None


def _by_count(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


class StatsCollector:
    """Accumulates records one at a time."""

    def __init__(self, select: SignalFilter | None = None) -> None:
        self.select = select or SignalFilter()
        self.signals = 0
        self.filtered = 0
        self.not_signals: Counter[str] = Counter()
        self.levels: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.ids: Counter[str] = Counter()
        self.without_id = 0
        self.errors = 0
        self.first_ns: int | None = None
        self.last_ns: int | None = None

    def add(self, records: Iterable[Record]) -> None:
        """Count these records."""
        for rec in records:
            sig = rec.signal
            if sig is None:
                self.not_signals[rec.problem or "not_json"] += 1
                continue
            if not self.select.allows(sig):
                self.filtered += 1
                continue
            self.signals += 1
            self.levels[sig.level] += 1
            self.kinds[sig.kind] += 1
            if sig.id is None:
                self.without_id += 1
            else:
                self.ids[sig.id] += 1
            if signal_level(sig) >= Level.ERROR:
                self.errors += 1
            if self.first_ns is None or sig.inst < self.first_ns:
                self.first_ns = sig.inst
            if self.last_ns is None or sig.inst > self.last_ns:
                self.last_ns = sig.inst

    def result(self, files: Sequence[str]) -> LogStats:
        """The numbers so far."""
        levels = dict(sorted(self.levels.items(), key=lambda kv: (level_number(kv[0]), kv[0])))
        return LogStats(
            files=list(files),
            signals=self.signals,
            filtered=self.filtered,
            not_signals=dict(sorted(self.not_signals.items())),
            by_level=levels,
            by_kind=_by_count(self.kinds),
            by_id=_by_count(self.ids),
            without_id=self.without_id,
            errors=self.errors,
            error_rate=self.errors / self.signals if self.signals else 0.0,
            first_ns=self.first_ns,
            last_ns=self.last_ns,
            first=None if self.first_ns is None else format_time(self.first_ns),
            last=None if self.last_ns is None else format_time(self.last_ns),
        )


def collect(
    paths: Sequence[str], select: SignalFilter | None = None, *, err: TextIO
) -> tuple[LogStats, int]:
    """Read every file; return the stats and the exit status (1 if a file could not be read)."""
    collector = StatsCollector(select)
    decoder = LineDecoder()
    status = 0
    for path in paths:
        try:
            collector.add(read_records(path, decoder))
        except BrokenPipeError:
            raise
        except OSError as exc:
            err.write(f"{PROG} stats: cannot read {path}: {exc.strerror or exc}\n")
            status = 1
    return collector.result(paths), status


def _span(ns: int) -> str:
    secs = ns / 1e9
    if secs < 60:
        return f"{secs:.3f}s"
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(int(mins), 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m", f"{secs:.0f}s"]
    return " ".join(p for p in parts if p)


def _table(title: str, counts: dict[str, int], total: int, top: int | None = None) -> list[str]:
    items = list(counts.items())
    shown = items if top is None else items[:top]
    width = max([len(title), *(len(escape(k)) for k, _ in shown)])
    lines = [f"{title:<{width}}  {'count':>8}  {'share':>6}"]
    for key, n in shown:
        share = f"{100 * n / total:.1f}%" if total else "-"
        lines.append(f"{escape(key):<{width}}  {n:>8}  {share:>6}")
    if len(items) > len(shown):
        rest = sum(n for _, n in items[len(shown) :])
        lines.append(f"{f'({len(items) - len(shown)} more)':<{width}}  {rest:>8}")
    return lines


def render(stats: LogStats, *, top: int | None = DEFAULT_TOP) -> str:
    """The stats as readable text."""
    out = [f"files      {', '.join(stats.files)}", f"signals    {stats.signals}"]
    if stats.filtered:
        out[-1] += f" ({stats.filtered} more left out by the filters)"
    bad = sum(stats.not_signals.values())
    if bad:
        reasons = ", ".join(f"{k}={v}" for k, v in stats.not_signals.items())
        out.append(f"not signals {bad} lines ({reasons})")
    if stats.first_ns is not None and stats.last_ns is not None:
        out.append(f"first      {stats.first}")
        out.append(f"last       {stats.last}  ({_span(stats.last_ns - stats.first_ns)} later)")
    out.append(f"errors     {stats.errors} ({100 * stats.error_rate:.2f}% at level error or above)")
    if stats.signals:
        out.append("")
        out += _table("level", stats.by_level, stats.signals)
        out.append("")
        out += _table("kind", stats.by_kind, stats.signals)
        out.append("")
        ids = Counter(stats.by_id)
        if stats.without_id:
            ids["(no id)"] = stats.without_id
        out += _table("id", _by_count(ids), stats.signals, top)
    return "\n".join(out) + "\n"
