"""Turn the runner's results into ``results.md`` (a table per scenario) and PNG charts.

Every table gives each library's figure and its ratio to aiotelemetry's (the library's figure
divided by aiotelemetry's: above 1 means more time, more lag or more memory than aiotelemetry;
for throughput, below 1 means fewer signals per second).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "write_charts", "write_markdown"]

OURS = "aiotelemetry"
R = dict[str, Any]

TITLES = {
    "call": "1. Call cost: one structured call with three fields",
    "refused": "2. Refused call (below the level)",
    "throughput": "3. End-to-end throughput (first call to everything on disk, verified)",
    "fanout": "4. Fan-out to three handlers (file, syslog UDP, memory)",
    "slow": "5. Slow sink (50 ms per write): caller latency and drop accounting",
    "lag": "6. Event-loop lag while emitting 100,000 signals/s",
    "memory": "7. Peak memory while flooding 1,000,000 signals (dropping mode)",
}


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{max(digits - len(str(int(abs(x)))), 0)}f}"


def _sec(x: float) -> str:
    return f"{x:.3f}"


def _ratio(value: float | None, ours: float | None) -> str:
    if value is None or ours is None or ours == 0:
        return "—"
    return f"{value / ours:.2f}x"


def _ok(res: R) -> bool:
    return "na" not in res and "error" not in res


def _row_na(label: str, res: R, width: int) -> list[str]:
    what = f"n/a: {res['na']}" if "na" in res else f"error: {res['error']}"
    return [label, what] + [""] * (width - 2)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _labels(report: R) -> dict[str, str]:
    from .libs import LIBS

    return {k: LIBS[k].label for k in report["versions"]}


def _get(res: R, *path: str) -> Any:
    for p in path:
        if not isinstance(res, dict) or p not in res:
            return None
        res = res[p]
    return res


def _section_call(rows: dict[str, R], labels: dict[str, str]) -> list[str]:
    ours = rows.get(OURS, {})
    head = ["library", "calls", "p50 µs", "p99 µs", "p99.9 µs", "p50 x", "p99 x", "p99.9 x"]
    body = []
    for key, res in rows.items():
        if not _ok(res):
            body.append(_row_na(labels[key], res, len(head)))
            continue
        body.append(
            [
                labels[key],
                f"{res['n']:,}",
                _fmt(res["p50"]),
                _fmt(res["p99"]),
                _fmt(res["p999"]),
                _ratio(res["p50"], _get(ours, "p50")),
                _ratio(res["p99"], _get(ours, "p99")),
                _ratio(res["p999"], _get(ours, "p999")),
            ]
        )
    return _table(head, body)


def _section_refused(rows: dict[str, R], labels: dict[str, str]) -> list[str]:
    ours = rows.get(OURS, {})
    head = [
        "library",
        "calls",
        "p50 µs (timed per call)",
        "µs per call (untimed loop)",
        "p50 x",
        "loop x",
        "lines written",
    ]
    body = []
    for key, res in rows.items():
        if not _ok(res):
            body.append(_row_na(labels[key], res, len(head)))
            continue
        body.append(
            [
                labels[key],
                f"{res['n']:,}",
                _fmt(res["p50"]),
                _fmt(res["loop_mean"]),
                _ratio(res["p50"], _get(ours, "p50")),
                _ratio(res["loop_mean"], _get(ours, "loop_mean")),
                str(res["written"]),
            ]
        )
    return _table(head, body)


def _section_throughput(rows: dict[str, R], labels: dict[str, str]) -> list[str]:
    ours = rows.get(OURS, {})
    head = [
        "library",
        "signals emitted",
        "emit s",
        "close s",
        "first call → on disk s",
        "verified signals/s",
        "x aiotelemetry",
        "lines valid / emitted",
    ]
    body = []
    for key, res in rows.items():
        if not _ok(res):
            body.append(_row_na(labels[key], res, len(head)))
            continue
        body.append(
            [
                labels[key],
                f"{res['n']:,}",
                _sec(res["emit_s"]),
                _sec(res["close_s"]) + (" (timed out)" if res["close_timed_out"] else ""),
                _sec(res["total_s"]),
                f"{res['rate']:,.0f}",
                _ratio(res["rate"], _get(ours, "rate")),
                f"{res['valid']:,} / {res['n']:,}"
                + (f" ({res['files']} files)" if res["files"] > 1 else ""),
            ]
        )
    return _table(head, body)


def _section_fanout(rows: dict[str, R], labels: dict[str, str]) -> list[str]:
    ours = rows.get(OURS, {})
    head = [
        "library",
        "calls",
        "p50 µs",
        "p99 µs",
        "p50 x",
        "p99 x",
        "file / syslog / memory received (of emitted)",
    ]
    body = []
    for key, res in rows.items():
        if not _ok(res):
            body.append(_row_na(labels[key], res, len(head)))
            continue
        got = f"{res['file_valid']:,} / {res.get('syslog', 0):,} / {res['memory'] or 0:,}"
        body.append(
            [
                labels[key],
                f"{res['n']:,}",
                _fmt(res["p50"]),
                _fmt(res["p99"]),
                _ratio(res["p50"], _get(ours, "p50")),
                _ratio(res["p99"], _get(ours, "p99")),
                f"{got} (of {res['emitted']:,})",
            ]
        )
    return _table(head, body)


def _section_slow(rows: dict[str, R], labels: dict[str, str]) -> list[str]:
    ours = rows.get(OURS, {})
    head = [
        "library",
        "fast p50 µs",
        "fast p99 µs",
        "slow p50 µs",
        "slow p99 µs",
        "slow p99 / fast p99",
        "slow p99 x",
        "slow: emitted",
        "written",
        "dropped (reported)",
        "unaccounted",
        "emitted = written + dropped",
    ]
    body = []
    for key, res in rows.items():
        if not _ok(res):
            body.append(_row_na(labels[key], res, len(head)))
            continue
        f, s = res["fast"], res["slow"]
        acc = s["accounted"]
        acc_s = "—" if acc is None else ("yes" if acc else "NO")
        if s["close_timed_out"]:
            acc_s += " (close timed out)"
        body.append(
            [
                labels[key],
                _fmt(f["p50"]),
                _fmt(f["p99"]),
                _fmt(s["p50"]),
                _fmt(s["p99"]),
                f"{s['p99'] / f['p99']:.2f}" if f["p99"] else "—",
                _ratio(s["p99"], _get(ours, "slow", "p99")),
                f"{s['n']:,}",
                f"{s['written']:,}",
                "not counted" if s["reported_dropped"] is None else f"{s['reported_dropped']:,}",
                f"{s['unaccounted']:,}",
                acc_s,
            ]
        )
    return _table(head, body)


def _section_lag(rows: dict[str, R], labels: dict[str, str]) -> list[str]:
    ours = rows.get(OURS, {})
    head = [
        "library",
        "achieved signals/s",
        "lag p50 ms",
        "lag p99 ms",
        "lag max ms",
        "p99 x",
        "baseline p99 ms (no logging)",
        "written",
        "dropped (reported)",
    ]
    body = []
    for key, res in rows.items():
        if not _ok(res):
            body.append(_row_na(labels[key], res, len(head)))
            continue
        body.append(
            [
                labels[key],
                f"{res['achieved_rate']:,.0f}",
                _fmt(res["p50_ms"]),
                _fmt(res["p99_ms"]),
                _fmt(res["max_ms"]),
                _ratio(res["p99_ms"], _get(ours, "p99_ms")),
                _fmt(res["baseline"]["p99_ms"]),
                f"{res['written']:,}",
                "not counted"
                if res["reported_dropped"] is None
                else f"{res['reported_dropped']:,}",
            ]
        )
    return _table(head, body)


def _section_memory(rows: dict[str, R], labels: dict[str, str]) -> list[str]:
    from .libs import LIBS

    ours = rows.get(OURS, {})
    head = [
        "library",
        "dropping mode",
        "signals flooded",
        "flood s",
        "RSS before MB",
        "RSS growth MB",
        "x aiotelemetry",
        "written",
        "dropped (reported)",
    ]
    body = []
    for key, res in rows.items():
        if not _ok(res):
            body.append(_row_na(labels[key], res, len(head)))
            continue
        body.append(
            [
                labels[key],
                LIBS[key].dropping or "—",
                f"{res['n']:,}",
                _sec(res["flood_s"]),
                f"{res['rss_before_mb']:.1f}",
                f"{res['growth_mb']:.2f}",
                _ratio(res["growth_mb"], _get(ours, "growth_mb")),
                f"{res['written']:,}",
                "not counted"
                if res["reported_dropped"] is None
                else f"{res['reported_dropped']:,}",
            ]
        )
    return _table(head, body)


SECTIONS: dict[str, Callable[[dict[str, R], dict[str, str]], list[str]]] = {
    "call": _section_call,
    "refused": _section_refused,
    "throughput": _section_throughput,
    "fanout": _section_fanout,
    "slow": _section_slow,
    "lag": _section_lag,
    "memory": _section_memory,
}

NOTES = {
    "call": "Each call timed alone with `perf_counter_ns` (the timer itself adds about "
    "{overhead:.0f} ns). Calls come in bursts of 100 with a 0.5 ms pause between bursts, "
    "the idle time in which background writers catch up; 2,000 warm-up calls first.",
    "refused": "The per-call p50 includes the timer's own cost (about {overhead:.0f} ns); the "
    "untimed loop does not, and is the better figure below a microsecond (mean per call over "
    "chunks of 1,000 calls, median chunk).",
    "throughput": "aiotelemetry in blocking mode here (nothing may be lost); peers in their "
    "default configuration, which never drops. The clock stops when the library's close/flush "
    "returns (aiotelemetry's includes an fsync); then every line is JSON-parsed and checked "
    "for the three fields. signals/s counts verified lines only. Emission stops at the "
    "count or the time budget, whichever comes first.",
    "fanout": "Calls come in bursts of 100 on a fixed schedule, one burst per millisecond "
    "(100,000 calls/s offered to every library alike; a library slower than that runs behind "
    "schedule without pauses). Syslog datagrams go to a UDP socket on 127.0.0.1 that the runner "
    "process drains (receive buffer {rcvbuf_mb:.0f} MB). Counts are what each destination "
    "received, warm-up calls included.",
    "slow": "The same paced calls as scenario 1, once with a sink that only counts and once "
    "with a sink that takes 50 ms per write call (one call per batch where the library batches, "
    "per record otherwise). Close is given a deadline; 'unaccounted' = emitted - written - "
    "reported drops.",
    "lag": "A ticker task sleeps 1 ms at a time and records how late it wakes, while the "
    "emitter sends what the 100,000/s schedule owes every millisecond (at most 10 ms worth "
    "at once). The baseline is the same ticker in the same process with no logging.",
    "memory": "RSS high-water mark (`VmHWM`, reset through `/proc/self/clear_refs` after the "
    "warm-up) minus RSS before the flood; 0 means less than a page. Calls in bursts of 1,000 "
    "with one loop iteration between bursts; libraries too slow for 1,000,000 calls stop at "
    "the time budget.",
}

CONFIG_NOTES = [
    "Every library writes one JSON object per line with the time, the level, the message, the "
    "logger or module name and the three fields; where the library records the call site "
    "(file, line, function) by default it is kept, and structlog is given its "
    "CallsiteParameterAdder so that it carries the same information as aiotelemetry's "
    "`location`. fapilog records no call site.",
    "stdlib logging has no JSON formatter of its own: python-json-logger's `JsonFormatter` is "
    "the one its users reach for. The QueueHandler set-up is the cookbook's: an unbounded "
    "queue (the default of the 3.12 `dictConfig` support) and a started QueueListener, stopped "
    "at close.",
    "structlog's configuration is its documentation's performance recipe (filtering bound "
    "logger, cached loggers, orjson rendering to a BytesLogger), plus the call-site processor. "
    "structlog has no fan-out of its own; its documentation routes the rendered line through "
    "stdlib handlers, which is what scenario 4 does.",
    "loguru: `enqueue=True, serialize=True` as its documentation recommends for asynchronous "
    "and multi-process use. Its queue has no bound and no dropping mode.",
    "aiologger: every call awaited, as its documentation requires for ordering; "
    "`AsyncFileHandler` writes through aiofiles (two thread-pool hops per record).",
    "fapilog 0.18.1: its `production` preset, with the stdout sink replaced by the preset's own "
    "`rotating_file` sink (no compression, no size rotation within a run). Its adaptive "
    "scaling is turned off: with it on, `drain()` returned while most records were neither "
    "written nor counted (20,000 submitted, about 3,800 processed and written, 5 reported "
    "dropped, the rest gone), which would make every figure meaningless. The preset runs "
    "several workers, so one run writes several files; all are verified.",
    "aiotelemetry's fan-out needs `telemetry.sinks.SyslogSink`; when this checkout lacks it, "
    "scenario 4 reports n/a for aiotelemetry rather than measuring a different set-up.",
    "Nothing is tuned per scenario beyond what the scenario names: aiotelemetry runs its "
    "defaults (dropping mode, buffer 1,024, batch 1,024) except blocking mode in scenario 3.",
]

#: The targets of the performance issue, checked against this run.
TARGETS: list[tuple[str, Callable[[R], tuple[Any, bool] | None]]] = []


def _target(desc: str) -> Callable[[Callable[[R], tuple[Any, bool] | None]], None]:
    def deco(fn: Callable[[R], tuple[Any, bool] | None]) -> None:
        TARGETS.append((desc, fn))

    return deco


def _res(r: R, scenario: str, key: str) -> R | None:
    res = r.get(scenario, {}).get(key)
    return res if res is not None and _ok(res) else None


@_target("call cost p50 < 1.5 µs")
def _t1(r: R) -> tuple[Any, bool] | None:
    o = _res(r, "call", OURS)
    return None if o is None else (f"{o['p50']:.2f} µs", o["p50"] < 1.5)


@_target("call cost ≥ 10x faster than logging QueueHandler (p50)")
def _t2(r: R) -> tuple[Any, bool] | None:
    o, p = _res(r, "call", OURS), _res(r, "call", "logging-queue")
    return (
        None
        if o is None or p is None
        else (f"{p['p50'] / o['p50']:.1f}x", p["p50"] / o["p50"] >= 10)
    )


@_target("call cost ≥ 25x faster than fapilog (p50)")
def _t3(r: R) -> tuple[Any, bool] | None:
    o, p = _res(r, "call", OURS), _res(r, "call", "fapilog")
    return (
        None
        if o is None or p is None
        else (f"{p['p50'] / o['p50']:.1f}x", p["p50"] / o["p50"] >= 25)
    )


@_target("refused call < 0.2 µs (untimed loop)")
def _t4(r: R) -> tuple[Any, bool] | None:
    o = _res(r, "refused", OURS)
    return None if o is None else (f"{o['loop_mean']:.3f} µs", o["loop_mean"] < 0.2)


@_target("throughput > 500,000 signals/s")
def _t5(r: R) -> tuple[Any, bool] | None:
    o = _res(r, "throughput", OURS)
    return None if o is None else (f"{o['rate']:,.0f}/s", o["rate"] > 500_000)


@_target("throughput ≥ 8x logging QueueHandler + QueueListener")
def _t6(r: R) -> tuple[Any, bool] | None:
    o, p = _res(r, "throughput", OURS), _res(r, "throughput", "logging-queue")
    if o is None or p is None or not p["rate"]:
        return None
    return f"{o['rate'] / p['rate']:.1f}x", o["rate"] / p["rate"] >= 8


@_target("slow sink: caller p99 within 10% of the fast-sink p99")
def _t7(r: R) -> tuple[Any, bool] | None:
    o = _res(r, "slow", OURS)
    if o is None:
        return None
    q = o["slow"]["p99"] / o["fast"]["p99"]
    return f"{q:.2f}", q <= 1.10


@_target("slow sink: emitted = written + dropped (hub.stats())")
def _t8(r: R) -> tuple[Any, bool] | None:
    o = _res(r, "slow", OURS)
    if o is None:
        return None
    s = o["slow"]
    return (
        f"{s['n']:,} = {s['written']:,} + {s['reported_dropped']:,}"
        if s["reported_dropped"] is not None
        else "—",
        bool(s["accounted"]),
    )


@_target("memory growth < 50 MB for 1,000,000 signals")
def _t9(r: R) -> tuple[Any, bool] | None:
    o = _res(r, "memory", OURS)
    if o is None:
        return None
    return f"{o['growth_mb']:.1f} MB for {o['n']:,}", o["growth_mb"] < 50


def write_markdown(report: R, path: Path, charts: list[Path]) -> None:
    """Write the report: machine, versions, configurations, one table per scenario, targets."""
    labels = _labels(report)
    m = report["machine"]
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
        "Every library runs in its own fresh interpreter, one after the other, within one "
        "invocation. The claims are the ratios: the absolute figures depend on the machine and "
        "on what else it runs. Ratios are the library's figure divided by aiotelemetry's.",
        "",
        "## Libraries and configurations",
        "",
    ]
    lines += _table(
        ["library", "version", "configuration"],
        [[labels[k], report["versions"][k], report["configs"][k]] for k in report["versions"]],
    )
    lines.append("")
    results = report["results"]
    overhead = 40.0
    for res in results.get("call", {}).values():
        if "timer_overhead_ns" in res:
            overhead = res["timer_overhead_ns"]
            break
    targets = [(d, fn(results)) for d, fn in TARGETS]
    targets = [(d, t) for d, t in targets if t is not None]
    if targets:
        lines += ["## Targets (issue 8)", ""]
        lines += _table(
            ["target", "measured", "met"],
            [[d, str(t[0]), "yes" if t[1] else "**no**"] for d, t in targets],
        )
        lines.append("")
    chart_names = {p.stem: p for p in charts}
    for scenario, rows in results.items():
        lines += [f"## {TITLES[scenario]}", ""]
        lines += SECTIONS[scenario](rows, labels)
        rcvbuf_mb = report.get("udp_rcvbuf", 0) / (1 << 20)
        lines += ["", NOTES[scenario].format(overhead=overhead, rcvbuf_mb=rcvbuf_mb)]
        extra = _notes_for(scenario, rows, labels)
        if extra:
            lines += [""] + [f"- {x}" for x in extra]
        if scenario in chart_names:
            rel = chart_names[scenario].relative_to(path.parent)
            lines += ["", f"![{TITLES[scenario]}]({rel.as_posix()})"]
        lines.append("")
    lines += ["## Notes on the configurations", ""]
    lines += [f"- {n}" for n in CONFIG_NOTES]
    samples = {k: r.get("sample") for k, r in results.get("throughput", {}).items() if _ok(r)}
    if samples:
        lines += ["", "## One written line per library (from scenario 3)", ""]
        for key, sample in samples.items():
            lines += [f"{labels[key]}:", "", "```json", sample or "(empty)", "```", ""]
    lines += ["## Sizes", "", "```", *(f"{k}: {v}" for k, v in report["sizes"].items()), "```", ""]
    path.write_text("\n".join(lines))


def _notes_for(scenario: str, rows: dict[str, R], labels: dict[str, str]) -> list[str]:
    out = []
    floor = rows.get(OURS, {}).get("floor") if scenario == "call" else None
    if floor:
        out.append(
            "For scale, timed the same way in aiotelemetry's process: any pure-Python awaited "
            f"call with these arguments costs {_fmt(floor['bare'])} µs (p50) when the function "
            "only returns a finished future, and "
            f"{_fmt(floor['built'])} µs when it also reads the caller's frame and the clock and "
            "builds a 20-field msgspec struct, before any level check, context, queue or count."
        )
    for key, res in rows.items():
        if not _ok(res):
            continue
        parts = [res] if scenario != "slow" else [res["fast"], res["slow"]]
        for part in parts:
            if part.get("close_timed_out"):
                out.append(f"{labels[key]}: close/flush did not finish within its deadline.")
            if part.get("accounted") is False:
                out.append(
                    f"{labels[key]}: its own counts do not add up ("
                    + "; ".join(part.get("lib_notes", []))
                    + ")."
                )
        if scenario in ("call", "fanout") and res.get("reported_dropped"):
            out.append(
                f"{labels[key]}: {res['reported_dropped']:,} dropped during the run (the "
                "figures include the calls that dropped)."
            )
        if scenario == "throughput" and res["missing"]:
            out.append(
                f"{labels[key]}: {res['missing']:,} of {res['n']:,} emitted signals are not "
                "in the file."
            )
    return out


# -- charts -------------------------------------------------------------------------------------


def write_charts(report: R, folder: Path) -> list[Path]:
    """One PNG per scenario (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    labels = _labels(report)
    results = report["results"]
    made: list[Path] = []

    def bars(
        name: str, title: str, unit: str, series: dict[str, Callable[[R], float | None]]
    ) -> None:
        rows = results.get(name)
        if not rows:
            return
        keys = [k for k, r in rows.items() if _ok(r)]
        if not keys:
            return
        fig, ax = plt.subplots(figsize=(8, 0.28 * len(keys) * len(series) + 1.4))
        height = 0.8 / len(series)
        values_all = []
        for j, (sname, fn) in enumerate(series.items()):
            vals = [fn(rows[k]) or 0.0 for k in keys]
            values_all += [v for v in vals if v > 0]
            ys = [i + j * height for i in range(len(keys))]
            ax.barh(ys, vals, height=height, color=f"C{j}", label=sname)
            for y, v in zip(ys, vals, strict=True):
                ax.text(v, y, f" {_fmt(v)}", va="center", fontsize=8)
        ax.set_yticks([i + height * (len(series) - 1) / 2 for i in range(len(keys))])
        ax.set_yticklabels([labels[k] for k in keys])
        for tick, k in zip(ax.get_yticklabels(), keys, strict=True):
            if k == OURS:
                tick.set_fontweight("bold")
        ax.invert_yaxis()
        if values_all and max(values_all) / max(min(values_all), 1e-9) > 30:
            ax.set_xscale("log")
            ax.set_xlim(right=max(values_all) * 8)  # room for the longest bar's label
        elif values_all:
            ax.set_xlim(right=max(values_all) * 1.15)
        ax.set_xlabel(unit)
        ax.set_title(title + (" (quick run)" if report["quick"] else ""), fontsize=10)
        if len(series) > 1:  # outside the axes, where no bar or label can be under it
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        p = folder / f"{name}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        made.append(p)

    bars(
        "call",
        TITLES["call"],
        "µs per call (lower is better)",
        {"p50": lambda r: r["p50"], "p99": lambda r: r["p99"], "p99.9": lambda r: r["p999"]},
    )
    bars(
        "refused",
        TITLES["refused"],
        "µs per call, untimed loop (lower is better)",
        {"untimed loop": lambda r: r["loop_mean"]},
    )
    bars(
        "throughput",
        TITLES["throughput"],
        "verified signals per second (higher is better)",
        {"signals/s": lambda r: r["rate"]},
    )
    bars(
        "fanout",
        TITLES["fanout"],
        "µs per call (lower is better)",
        {"p50": lambda r: r["p50"], "p99": lambda r: r["p99"]},
    )
    bars(
        "slow",
        TITLES["slow"],
        "caller p99 µs (lower is better)",
        {"fast sink": lambda r: r["fast"]["p99"], "50 ms sink": lambda r: r["slow"]["p99"]},
    )
    bars(
        "lag",
        TITLES["lag"],
        "ticker lag ms (lower is better)",
        {"p50": lambda r: r["p50_ms"], "p99": lambda r: r["p99_ms"]},
    )
    bars(
        "memory",
        TITLES["memory"],
        "RSS growth MB (lower is better)",
        {"growth": lambda r: r["growth_mb"]},
    )
    return made
