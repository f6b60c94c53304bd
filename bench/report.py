"""Turn the runner's results into ``results.md`` (one table per scenario, the targets) and PNG
charts.

Every figure is the median over the repetitions, with the range (min to max) beside it where it
matters. Every ratio is taken within a repetition (the two systems measured minutes apart, in
the same pass) and the median of those ratios is reported.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "TITLES", "write_charts", "write_markdown"]

OURS = "aiotelemetry"
R = dict[str, Any]
Runs = dict[str, list[R]]

TITLES = {
    "flood": "Flood: awaited calls in a loop with no other await (3 fields)",
    "paced": "Paced: groups of 100 calls, 0.5 ms idle after each group",
    "single": "Single calls: each call alone, one loop turn after each",
    "refused": "Refused call (below the level) against an empty await",
    "fields0": "Flood with no fields",
    "fields20": "Flood with 20 fields",
    "bind": "Flood inside a bound context (2 keys)",
    "span": "Flood inside a span",
    "threads": "Calls from 4 threads",
    "fanout": "Fan-out: one call to 3 files (3 handlers)",
    "slow": "Slow sink (10 ms per write): caller latency and accounting",
    "memory": "Memory: 1,000,000 signals, all written",
    "app": "App-shaped: uvicorn HTTP + websocket at a fixed rate",
    "flood-rate": "Flood: end to end, first call to fsynced file",
}

NOTES = {
    "flood": "Per call: the flood's emitting time divided by the calls. End to end: verified "
    "lines per second from the first call until the system's close returned and its files "
    "were fsynced. Lost: calls made minus valid lines in the file, per repetition. aiotelemetry "
    "runs its defaults here (whatever its default mode does with a full queue is what is "
    "measured); `aiotelemetry (blocking)` is the same with `mode='blocking'`.",
    "paced": "Each call timed alone with `perf_counter_ns` (the timer adds about 40 ns), in "
    "groups of 100 with 0.5 ms idle after each group: the idle time a server has, in which "
    "background writers catch up. 1,000 warm-up calls first (written, not timed). Mean: the "
    "mean of the group means.",
    "single": "Each call timed alone and followed by `await asyncio.sleep(0)`, so the writer "
    "may run between any two calls: the per-call p50 / p99 of single calls.",
    "refused": "Untimed loops of 1,000 calls, median chunk. In the same process: an empty "
    "`await` of a finished future, and an awaited call with the same arguments to a function "
    "that only returns that future (for a synchronous API: a plain call with the same "
    "arguments).",
    "fanout": "One call delivered to three files: three handlers for aiotelemetry and for "
    "stdlib-style loggers, three sinks for loguru, three processors for OpenTelemetry. "
    "Signals/s counts a signal once when its lines are verified (valid lines / 3 / seconds).",
    "slow": "A destination that sleeps 10 ms per write call and only counts what it gets (one "
    "call per batch where the system batches, per record otherwise). Calls in groups of 10 "
    "with 1 ms idle. Unaccounted = calls - written - drops the system reported.",
    "memory": "RSS high-water mark (`VmHWM`, reset through `/proc/self/clear_refs` after a "
    "warm-up of 1,000 calls) minus RSS before the flood, during the flood; and including the "
    "close. Only set-ups that write every signal: aiotelemetry in `mode='blocking'`.",
    "app": "A plain ASGI app under uvicorn (h11, websockets-sansio): two calls per HTTP "
    "request, one per websocket message. A client process (httpx, websockets) sends requests "
    "and messages on a fixed schedule (open loop), at the rate in the sizes below, for the "
    "duration given; latencies are measured in the client.",
}


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{max(digits - len(str(int(abs(x)))), 0)}f}"


def _ok(res: R) -> bool:
    return "na" not in res and "error" not in res


def _get(res: R, path: str) -> Any:
    cur: Any = res
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def ok_runs(runs: list[R]) -> list[R]:
    """The repetitions that produced figures."""
    return [r for r in runs if _ok(r)]


def med(runs: list[R], metric: str) -> float | None:
    """Median of ``metric`` over the successful repetitions."""
    xs = [v for r in ok_runs(runs) if isinstance(v := _get(r, metric), int | float)]
    return statistics.median(xs) if xs else None


def span_of(runs: list[R], metric: str) -> tuple[float, float] | None:
    """(min, max) of ``metric`` over the successful repetitions."""
    xs = [v for r in ok_runs(runs) if isinstance(v := _get(r, metric), int | float)]
    return (min(xs), max(xs)) if xs else None


def ratio(rows: Runs, key: str, ref: str, metric: str, invert: bool = False) -> float | None:
    """Median over repetitions of ``key``'s metric ÷ ``ref``'s (``invert``: ref ÷ key), each
    ratio taken within one repetition."""
    by_rep = {r["rep"]: r for r in ok_runs(rows.get(ref, []))}
    out = []
    for r in ok_runs(rows.get(key, [])):
        o = by_rep.get(r["rep"])
        a, b = _get(r, metric), _get(o, metric) if o else None
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            continue
        num, den = (b, a) if invert else (a, b)
        if den:
            out.append(num / den)
    return statistics.median(out) if out else None


def _with_range(runs: list[R], metric: str) -> str:
    m, s = med(runs, metric), span_of(runs, metric)
    if m is None or s is None:
        return "—"
    if len(ok_runs(runs)) < 2:
        return _fmt(m)
    return f"{_fmt(m)} ({_fmt(s[0])} to {_fmt(s[1])})"


def _x(x: float | None) -> str:
    return "—" if x is None else f"{_fmt(x)}x"


def _losses(runs: list[R]) -> str:
    vals = [r.get("lost") for r in ok_runs(runs)]
    if not vals:
        return "—"
    text = " / ".join(f"{v:,}" if isinstance(v, int) else "—" for v in vals)
    return f"**{text}**" if any(isinstance(v, int) and v > 0 for v in vals) else text


def _failed(runs: list[R]) -> str | None:
    bad = [r for r in runs if not _ok(r)]
    if not bad:
        return None
    r = bad[0]
    what = f"n/a: {r['na']}" if "na" in r else f"**failed**: {r['error']}"
    return what if len(bad) == len(runs) else f"{what} (in {len(bad)} of {len(runs)} runs)"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _labels() -> dict[str, str]:
    from .libs import LIBS

    return {k: cls.label for k, cls in LIBS.items()}


def _peers() -> tuple[str, ...]:
    from .libs import NOT_PEERS

    return NOT_PEERS


# -- tables -----------------------------------------------------------------------------------


def _section_flood(rows: Runs, labels: dict[str, str], ref: str = OURS) -> list[str]:
    head = [
        "system",
        "calls",
        "µs per call",
        "call cost ÷ aiotelemetry's",
        "end to end signals/s",
        "aiotelemetry's rate ÷ this",
        "lost (per rep)",
        "bytes/line",
    ]
    body = []
    for key, runs in rows.items():
        fail = _failed(runs)
        if fail and not ok_runs(runs):
            body.append([labels[key], fail] + [""] * (len(head) - 2))
            continue
        ok = ok_runs(runs)
        body.append(
            [
                labels[key] + (f" ({fail})" if fail else ""),
                f"{ok[0]['n']:,}",
                _with_range(runs, "per_call_us"),
                _x(ratio(rows, key, ref, "per_call_us")),
                _with_range(runs, "rate"),
                _x(ratio(rows, key, ref, "rate", invert=True)),
                _losses(runs),
                _fmt(med(runs, "bytes_per_line")),
            ]
        )
    return _table(head, body)


def _section_paced(rows: Runs, labels: dict[str, str]) -> list[str]:
    head = [
        "system",
        "calls",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "mean µs",
        "p50 ÷ aiotelemetry's",
        "p99 ÷ aiotelemetry's",
        "lost (per rep)",
    ]
    body = []
    for key, runs in rows.items():
        fail = _failed(runs)
        if fail and not ok_runs(runs):
            body.append([labels[key], fail] + [""] * (len(head) - 2))
            continue
        body.append(
            [
                labels[key] + (f" ({fail})" if fail else ""),
                f"{ok_runs(runs)[0]['n']:,}",
                _with_range(runs, "p50"),
                _with_range(runs, "p99"),
                _fmt(med(runs, "p999")),
                _fmt(med(runs, "mean")) if med(runs, "mean") is not None else "—",
                _x(ratio(rows, key, OURS, "p50")),
                _x(ratio(rows, key, OURS, "p99")),
                _losses(runs),
            ]
        )
    return _table(head, body)


def _section_refused(rows: Runs, labels: dict[str, str]) -> list[str]:
    head = [
        "system",
        "µs per refused call",
        "÷ aiotelemetry's",
        "empty await µs (same process)",
        "refused ÷ empty await",
        "plain call, same args, µs",
        "lines written",
    ]
    body = []
    for key, runs in rows.items():
        fail = _failed(runs)
        if fail and not ok_runs(runs):
            body.append([labels[key], fail] + [""] * (len(head) - 2))
            continue
        body.append(
            [
                labels[key],
                _with_range(runs, "refused_us"),
                _x(ratio(rows, key, OURS, "refused_us")),
                _fmt(med(runs, "empty_await_us")),
                _x(med(runs, "vs_empty_await")),
                _fmt(med(runs, "empty_call_us")),
                str(max(r.get("lines", 0) for r in ok_runs(runs))),
            ]
        )
    return _table(head, body)


def _section_slow(rows: Runs, labels: dict[str, str]) -> list[str]:
    head = [
        "system",
        "calls",
        "caller p50 µs",
        "caller p99 µs",
        "caller max µs",
        "written",
        "dropped (reported)",
        "unaccounted",
        "close s",
    ]
    body = []
    for key, runs in rows.items():
        fail = _failed(runs)
        if fail and not ok_runs(runs):
            body.append([labels[key], fail] + [""] * (len(head) - 2))
            continue
        ok = ok_runs(runs)
        dropped = [r.get("reported_dropped") for r in ok]
        body.append(
            [
                labels[key],
                f"{ok[0]['n']:,}",
                _with_range(runs, "p50"),
                _with_range(runs, "p99"),
                _fmt(med(runs, "max")),
                " / ".join(f"{r['written']:,}" for r in ok),
                "not counted"
                if all(d is None for d in dropped)
                else " / ".join(f"{d or 0:,}" for d in dropped),
                " / ".join(f"{r['unaccounted']:,}" for r in ok),
                _fmt(med(runs, "close_s")) + (" (timed out)" if ok[0]["close_timed_out"] else ""),
            ]
        )
    return _table(head, body)


def _section_memory(rows: Runs, labels: dict[str, str]) -> list[str]:
    head = [
        "system",
        "signals",
        "RSS growth MB (flood)",
        "incl. close MB",
        "end to end signals/s",
        "lost (per rep)",
    ]
    body = []
    for key, runs in rows.items():
        fail = _failed(runs)
        if fail and not ok_runs(runs):
            body.append([labels[key], fail] + [""] * (len(head) - 2))
            continue
        body.append(
            [
                labels[key],
                f"{ok_runs(runs)[0]['n']:,}",
                _with_range(runs, "growth_mb"),
                _fmt(med(runs, "growth_incl_close_mb")),
                _with_range(runs, "rate"),
                _losses(runs),
            ]
        )
    return _table(head, body)


def _section_app(rows: Runs, labels: dict[str, str]) -> list[str]:
    head = [
        "system",
        "requests",
        "HTTP p50 ms",
        "HTTP p99 ms",
        "HTTP p99 ÷ off",
        "ws p50 ms",
        "ws p99 ms",
        "errors",
        "lines written / calls",
    ]
    body = []
    for key, runs in rows.items():
        fail = _failed(runs)
        if fail and not ok_runs(runs):
            body.append([labels[key], fail] + [""] * (len(head) - 2))
            continue
        ok = ok_runs(runs)
        body.append(
            [
                labels[key],
                f"{ok[0].get('requests', 0):,}",
                _with_range(runs, "http.p50_ms"),
                _with_range(runs, "http.p99_ms"),
                _x(ratio(rows, key, "off", "http.p99_ms")) if key != "off" else "—",
                _fmt(med(runs, "ws.p50_ms")),
                _fmt(med(runs, "ws.p99_ms")),
                str(sum(r.get("errors", 0) for r in ok)),
                " / ".join(f"{r['valid']:,}/{r['calls']:,}" for r in ok),
            ]
        )
    return _table(head, body)


SECTIONS: dict[str, Callable[[Runs, dict[str, str]], list[str]]] = {
    "flood": _section_flood,
    "paced": _section_paced,
    "single": _section_paced,
    "refused": _section_refused,
    "fields0": _section_flood,
    "fields20": _section_flood,
    "bind": _section_flood,
    "span": _section_flood,
    "threads": _section_flood,
    "fanout": _section_flood,
    "slow": _section_slow,
    "memory": _section_memory,
    "app": _section_app,
}

# -- targets ----------------------------------------------------------------------------------

#: (description, check) pairs; a check takes the results and the aiotelemetry row to judge, and
#: returns (measured text, met) or None (not measured).
Check = Callable[[dict[str, Runs], str], tuple[str, bool] | None]
TARGETS: list[tuple[str, Check]] = []
#: The row the targets are about, and the one shown beside it for reference.
REFERENCE = "aiotelemetry-blocking"


def _target(desc: str) -> Callable[[Check], None]:
    def deco(fn: Check) -> None:
        TARGETS.append((desc, fn))

    return deco


def _by_rep(runs: list[R]) -> dict[int, R]:
    return {r["rep"]: r for r in ok_runs(runs)}


def _best_peer(
    rows: Runs, metric: str, highest: bool, ours_key: str = OURS
) -> tuple[list[float], list[str]] | None:
    """Per repetition, aiotelemetry's figure against the best peer's: the ratios (peer ÷ ours
    for costs, ours ÷ peer for rates) and which peer was best."""
    peers = [k for k in rows if k not in _peers()]
    ours = _by_rep(rows.get(ours_key, []))
    ratios, names = [], []
    for rep, o in ours.items():
        vals = [
            (r[metric], k)
            for k in peers
            if (r := _by_rep(rows[k]).get(rep)) is not None and r.get(metric)
        ]
        if not vals or not o.get(metric):
            continue
        v, k = max(vals) if highest else min(vals)
        ratios.append(o[metric] / v if highest else v / o[metric])
        names.append(k)
    return (ratios, names) if ratios else None


@_target("defaults, unpaced flood: 0 lost")
def _t_lost(r: dict[str, Runs], ours: str) -> tuple[str, bool] | None:
    runs = ok_runs(r.get("flood", {}).get(ours, []))
    if not runs:
        return None
    lost = [x["lost"] for x in runs]
    return "lost per rep: " + " / ".join(
        f"{v:,} of {x['n']:,}" for v, x in zip(lost, runs, strict=True)
    ), not any(lost)


@_target("defaults, flood end to end ≥ 65 % of the floor")
def _t_floor(r: dict[str, Runs], ours: str) -> tuple[str, bool] | None:
    q = ratio(r.get("flood", {}), ours, "floor", "rate")
    return None if q is None else (f"{q * 100:.0f} % of the floor", q >= 0.65)


@_target("defaults, flood end to end ≥ 3x the fastest peer")
def _t_e2e(r: dict[str, Runs], ours: str) -> tuple[str, bool] | None:
    got = _best_peer(r.get("flood", {}), "rate", highest=True, ours_key=ours)
    if got is None:
        return None
    q = statistics.median(got[0])
    who = ", ".join(sorted({_labels()[k] for k in got[1]}))
    return f"{q:.2f}x ({who})", q >= 3


@_target("defaults, flood per call ≥ 5x cheaper than the fastest peer")
def _t_call(r: dict[str, Runs], ours: str) -> tuple[str, bool] | None:
    got = _best_peer(r.get("flood", {}), "per_call_us", highest=False, ours_key=ours)
    if got is None:
        return None
    q = statistics.median(got[0])
    who = ", ".join(sorted({_labels()[k] for k in got[1]}))
    return f"{q:.2f}x ({who})", q >= 5


@_target("refused call within 1.2x of an empty await")
def _t_refused(r: dict[str, Runs], ours: str) -> tuple[str, bool] | None:
    # One emitting path whatever the mode: the defaults' refused call stands for both.
    q = med(r.get("refused", {}).get(OURS, []), "vs_empty_await")
    return None if q is None else (f"{q:.2f}x", q <= 1.2)


@_target("defaults, fan-out to 3 handlers ≥ 250,000 signals/s (verified)")
def _t_fanout(r: dict[str, Runs], ours: str) -> tuple[str, bool] | None:
    runs = r.get("fanout", {}).get(ours, [])
    q = med(runs, "rate")
    if q is None:
        return None
    lost = sum(x["lost"] for x in ok_runs(runs))
    return f"{q:,.0f}/s" + (f", {lost:,} lines lost over the reps" if lost else ""), q >= 250_000


def seed_lines(r: dict[str, Runs]) -> list[str]:
    """The seed's comparisons, as measured here."""
    out = []
    for scen in ("flood", "paced"):
        q = ratio(
            r.get(scen, {}), "aiotelemetry-sync", OURS, "per_call_us" if scen == "flood" else "mean"
        )
        if q is not None:
            out.append(
                f"{scen}: a handler with `sync=True` costs {q:.1f}x the default per call "
                "(the seed claimed 24.5x for async against the same handler written "
                "synchronously)."
            )
    for scen in ("paced", "single"):
        runs = r.get(scen, {}).get(OURS, [])
        if ok_runs(runs):
            out.append(
                f"{scen}: aiotelemetry per call p50 {_fmt(med(runs, 'p50'))} µs, p99 "
                f"{_fmt(med(runs, 'p99'))} µs (the seed claimed a queue time of p50 2 µs, "
                "p99 5 µs)."
            )
    return out


# -- markdown -----------------------------------------------------------------------------------


def write_markdown(report: R, path: Path, charts: list[Path]) -> None:
    """Write the report: conditions, systems, targets, one table per scenario."""
    labels = _labels()
    m = report["machine"]
    results: dict[str, Runs] = report["results"]
    lines = [
        "# aiotelemetry benchmarks",
        "",
        f"Generated by `{report['command'].strip()}` on {report['date']}"
        + (" — **quick run: tiny sizes, the figures mean little**" if report["quick"] else "")
        + f"; {report['elapsed_s']:.0f} s in all.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['implementation']} {m['python']}, "
        f"{m['platform']}; load average {m['loadavg_start'][0]:.2f} at the start, "
        f"{m.get('loadavg_end', [0.0])[0]:.2f} at the end.",
        "",
        f"Method: every (system, scenario) in its own fresh interpreter; {report['reps']} "
        "repetitions of every scenario, the order of the systems alternating (forward, "
        "reverse, forward); figures are medians over the repetitions with the range in "
        "brackets; ratios are taken within a repetition, then the median. End-to-end clocks stop "
        "when the system's close has returned and the bench has fsynced its files; every line "
        "is parsed and checked, and loss (calls made minus valid lines) is shown per "
        "repetition for every system. No run stops at a time budget: slow systems get smaller "
        "runs (the calls column). aiotelemetry runs its defaults unless a row says otherwise.",
        "",
        "## Systems, configurations and guarantees",
        "",
    ]
    lines += _table(
        ["system", "version", "configuration", "guarantee"],
        [
            [labels[k], report["versions"][k], report["configs"][k], report["guarantees"][k]]
            for k in report["versions"]
        ],
    )
    lines.append("")
    targets = [(d, fn(results, OURS), fn(results, REFERENCE)) for d, fn in TARGETS]
    targets = [(d, t, ref) for d, t, ref in targets if t is not None]
    if targets:
        lines += [
            "## Targets",
            "",
            "The targets are about aiotelemetry's defaults. Beside them, for reference only, "
            "the same computation for the handler in `mode='blocking'`.",
            "",
        ]
        lines += _table(
            [
                "target (defaults)",
                "measured (median of the repetitions)",
                "met",
                "with mode='blocking' (reference)",
            ],
            [
                [
                    d,
                    t[0],
                    "yes" if t[1] else "**no**",
                    "—" if ref is None else f"{ref[0]} ({'met' if ref[1] else 'not met'})",
                ]
                for d, t, ref in targets
            ],
        )
        if not all(t[1] for _, t, _ in targets):
            lines += [
                "",
                "Where a target is not met, `python bench/profile.py flood` profiles "
                "aiotelemetry's flood (the loop of the first scenario) to show where the time "
                "goes; `python bench/profile.py refused` does the same for refused calls.",
            ]
        lines.append("")
    seeds = seed_lines(results)
    if seeds:
        lines += ["## The seed's comparisons, reproduced", ""] + [f"- {s}" for s in seeds] + [""]
    chart_names = {p.stem: p for p in charts}
    for scenario, rows in results.items():
        lines += [f"## {TITLES[scenario]}", ""]
        lines += SECTIONS[scenario](rows, labels)
        if scenario in NOTES:
            lines += ["", NOTES[scenario]]
        notes = _notes_for(rows, labels)
        if notes:
            lines += [""] + [f"- {x}" for x in notes]
        for stem in (scenario, f"{scenario}-rate"):
            if stem in chart_names:
                rel = chart_names[stem].relative_to(path.parent)
                lines += ["", f"![{TITLES[stem]}]({rel.as_posix()})"]
        lines.append("")
    samples = {
        k: ok_runs(v)[0].get("sample") for k, v in results.get("flood", {}).items() if ok_runs(v)
    }
    if samples:
        lines += ["## One written line per system (from the flood)", ""]
        for key, sample in samples.items():
            lines += [f"{labels[key]}:", "", "```json", sample or "(empty)", "```", ""]
    lines += ["## Sizes", "", "```", *(f"{k}: {v}" for k, v in report["sizes"].items()), "```", ""]
    path.write_text("\n".join(lines))


def _notes_for(rows: Runs, labels: dict[str, str]) -> list[str]:
    out = []
    for key, runs in rows.items():
        ok = ok_runs(runs)
        if not ok:
            continue
        r = ok[0]
        if any(x.get("close_timed_out") for x in ok):
            out.append(f"{labels[key]}: close did not finish within its deadline.")
        if any(x.get("accounted") is False for x in ok):
            out.append(
                f"{labels[key]}: its own counts do not add up ("
                + "; ".join(r.get("lib_notes", []))
                + ")."
            )
        if r.get("lib_notes") and key.startswith(OURS):
            out.append(f"{labels[key]} (first repetition): " + "; ".join(r["lib_notes"]) + ".")
    return out


# -- charts -------------------------------------------------------------------------------------


def _lost_mark(runs: list[R]) -> str:
    """A label suffix for a system that lost signals in any repetition: a figure that dropped
    most of its work must not read like one that did it all."""
    worst = 0.0
    for r in ok_runs(runs):
        lost, expected = r.get("lost"), r.get("expected") or r.get("n")
        if isinstance(lost, int) and lost > 0 and expected:
            worst = max(worst, lost / expected)
    if not worst:
        return ""
    return f" [lost up to {worst:.0%}]" if worst >= 0.01 else " [lost <1%]"


def write_charts(report: R, folder: Path) -> list[Path]:
    """One PNG per scenario with a headline figure: the median as a bar, the range over the
    repetitions as an error bar (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    labels = _labels()
    results: dict[str, Runs] = report["results"]
    made: list[Path] = []

    def bars(name: str, unit: str, series: dict[str, str], log: bool = False) -> None:
        rows = results.get(name)
        if not rows:
            return
        keys = [k for k, runs in rows.items() if ok_runs(runs)]
        if not keys:
            return
        fig, ax = plt.subplots(figsize=(8.5, 0.3 * len(keys) * len(series) + 1.5))
        height = 0.8 / len(series)
        top = 0.0
        for j, (sname, metric) in enumerate(series.items()):
            vals = [med(rows[k], metric) or 0.0 for k in keys]
            spans = [span_of(rows[k], metric) or (v, v) for k, v in zip(keys, vals, strict=True)]
            err = [
                [max(0.0, v - s[0]) for v, s in zip(vals, spans, strict=True)],
                [max(0.0, s[1] - v) for v, s in zip(vals, spans, strict=True)],
            ]
            ys = [i + j * height for i in range(len(keys))]
            ax.barh(ys, vals, height=height, color=f"C{j}", label=sname, xerr=err, capsize=2)
            for y, v, s in zip(ys, vals, spans, strict=True):
                ax.text(s[1], y, f"  {_fmt(v)}", va="center", fontsize=7)
            top = max([top, *(s[1] for s in spans)])
        ax.set_yticks([i + height * (len(series) - 1) / 2 for i in range(len(keys))])
        ax.set_yticklabels([labels[k] + _lost_mark(rows[k]) for k in keys], fontsize=8)
        for tick, k in zip(ax.get_yticklabels(), keys, strict=True):
            if k.startswith(OURS):
                tick.set_fontweight("bold")
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
            ax.set_xlim(right=top * 12 if top else 1)
        else:
            ax.set_xlim(right=top * 1.25 if top else 1)
        ax.set_xlabel(unit + f"; median of {report['reps']}, bar = range", fontsize=8)
        title = TITLES[name] + (" (quick run)" if report["quick"] else "")
        ax.set_title(title, fontsize=10)
        if len(series) > 1:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        p = folder / f"{name}.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        made.append(p)

    cost = "µs per call (lower is better)"
    rate = "verified signals per second, end to end (higher is better)"
    bars("flood", cost, {"µs per call": "per_call_us"}, log=True)
    bars("paced", cost, {"p50": "p50", "p99": "p99"}, log=True)
    bars("single", cost, {"p50": "p50", "p99": "p99"}, log=True)
    bars("refused", cost, {"refused call": "refused_us", "empty await": "empty_await_us"})
    for name in ("fields0", "fields20", "bind", "span", "threads"):
        bars(name, cost, {"µs per call": "per_call_us"}, log=True)
    bars("fanout", rate, {"signals/s": "rate"}, log=True)
    bars("slow", "caller µs (lower is better)", {"p50": "p50", "p99": "p99"}, log=True)
    bars("memory", "RSS growth MB (lower is better)", {"growth": "growth_mb"})
    bars("app", "ms (lower is better)", {"HTTP p50": "http.p50_ms", "HTTP p99": "http.p99_ms"})
    # The flood's end-to-end rate as a chart of its own.
    if "flood" in results:
        results = {**results, "flood-rate": results["flood"]}
        bars("flood-rate", rate, {"signals/s": "rate"}, log=True)
    for old in folder.glob("*.png"):  # charts of scenarios that no longer exist
        if old not in made:
            old.unlink()
    return made
