"""Run every scenario for aiotelemetry, the floor and each peer, and write the report.

    python bench/run.py            # the full run (make bench): about 10 minutes on 2 cores
    python bench/run.py --quick    # tiny sizes: checks that the harness works, figures mean little
    python bench/run.py --from-json bench/results/results.json   # the report again, nothing run

Every (system, scenario) runs in its own fresh interpreter (``python -m bench.worker``), and
every scenario is repeated (``--reps``, 3 by default) with the order of the systems alternating
(forward, reverse, forward, ...), so that neither going first nor a slow drift of the machine
favours anyone. Ratios are taken within a repetition, then the median over repetitions is
reported with the spread. Writes ``results.md``, ``results.json`` and ``charts/*.png`` into
``--out`` (default: ``bench/results/``, which git ignores: results are regenerated, not kept).
``--publish`` also writes the report without its charts to ``bench/published.md``, the figures
the benchmarks page shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.libs import LIBS  # noqa: E402
from bench.report import write_charts, write_markdown  # noqa: E402
from bench.scenarios import SCENARIOS  # noqa: E402
from bench.worker import MARK  # noqa: E402

_ALL = [k for k in LIBS if k != "off"]
_FAST_PEERS = ["logging-queue-tuned", "picologging", "structlog", "otel"]

#: Which systems each scenario runs, in forward order. The peers a scenario leaves out either
#: have no equivalent (their ``na`` says why) or are shown in the flood and paced scenarios,
#: where every system runs.
SYSTEMS: dict[str, list[str]] = {
    "flood": _ALL,
    "paced": [k for k in _ALL if k != "aiotelemetry-blocking"],
    "single": ["aiotelemetry", "aiotelemetry-sync", "floor", *_FAST_PEERS],
    "refused": [k for k in _ALL if k not in ("aiotelemetry-blocking", "aiotelemetry-sync")],
    "fields0": ["aiotelemetry", "aiotelemetry-blocking", "floor", *_FAST_PEERS],
    "fields20": ["aiotelemetry", "aiotelemetry-blocking", "floor", *_FAST_PEERS],
    "bind": ["aiotelemetry", "aiotelemetry-blocking", "structlog", "loguru"],
    "span": ["aiotelemetry", "aiotelemetry-blocking"],
    "threads": [
        "aiotelemetry",
        "aiotelemetry-blocking",
        "logging",
        "logging-queue-tuned",
        "picologging",
        "structlog",
        "loguru-enqueue",
        "otel",
    ],
    "fanout": [
        "aiotelemetry",
        "aiotelemetry-blocking",
        "logging",
        "logging-queue-tuned",
        "picologging",
        "loguru-enqueue",
        "aiologger",
        "otel",
    ],
    "slow": [
        "aiotelemetry",
        "aiotelemetry-blocking",
        "logging-queue-tuned",
        "loguru-enqueue",
        "otel",
        "fapilog",
    ],
    "memory": ["aiotelemetry-blocking", "floor", "logging-queue-tuned", "structlog"],
    "app": ["off", "aiotelemetry", "structlog", "picologging"],
}

#: Sizes of the full run: every run is sized to finish; ``n_slow`` for the slow systems.
FULL: dict[str, dict[str, Any]] = {
    "flood": {"n": 200_000, "n_slow": 10_000},
    "paced": {"n": 100_000, "n_slow": 5_000},
    "single": {"n": 20_000, "n_slow": 5_000},
    "refused": {"n": 100_000},
    "fields0": {"n": 100_000},
    "fields20": {"n": 100_000},
    "bind": {"n": 100_000, "n_slow": 10_000},
    "span": {"n": 100_000},
    "threads": {"n": 100_000, "n_slow": 10_000},
    "fanout": {"n": 100_000, "n_slow": 5_000},
    "slow": {"n": 400, "slow_s": 0.01, "burst": 10, "pause_s": 0.001},
    "memory": {"n": 1_000_000},
    "app": {"n": 0, "rate": 150, "seconds": 5},
}
#: Sizes of ``--quick``: enough to exercise every code path.
QUICK: dict[str, dict[str, Any]] = {
    "flood": {"n": 3_000, "n_slow": 300},
    "paced": {"n": 1_000, "n_slow": 200},
    "single": {"n": 300},
    "refused": {"n": 2_000},
    "fields0": {"n": 2_000},
    "fields20": {"n": 2_000},
    "bind": {"n": 2_000},
    "span": {"n": 2_000},
    "threads": {"n": 2_000, "n_slow": 400},
    "fanout": {"n": 2_000, "n_slow": 300},
    "slow": {"n": 40, "slow_s": 0.01, "burst": 10, "pause_s": 0.001},
    "memory": {"n": 5_000},
    "app": {"n": 0, "rate": 40, "seconds": 0.5},
}
#: How long one worker may take before it is killed and reported as failed.
WORKER_TIMEOUT_S = 300.0


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    return {
        "nproc": cpus,
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_start": list(os.getloadavg()),
    }


def versions(keys: list[str]) -> dict[str, str]:
    """Installed versions of the systems compared."""
    out: dict[str, str] = {}
    for key in keys:
        dist = LIBS[key].dist
        try:
            v = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v = "not installed"
        if key.startswith("logging"):
            v = f"stdlib {platform.python_version()}, orjson {v}"
        elif key == "floor":
            v = f"msgspec {v}"
        elif key == "off":
            v = "—"
        out[key] = v
    return out


def run_worker(key: str, scenario: str, sizes: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario for one system in a fresh interpreter; its result, or the error."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CI", None)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.worker", key, scenario, json.dumps(sizes)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {WORKER_TIMEOUT_S:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            res: dict[str, Any] = json.loads(line[len(MARK) :])
            if proc.stderr.strip() and "error" in res:
                res["stderr"] = proc.stderr.strip().splitlines()[-5:]
            return res
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"exit {proc.returncode}, no result", "stderr": tail}


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run everything, write the report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds, not minutes)")
    ap.add_argument("--libs", default="", help="only these systems (comma-separated)")
    ap.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ",".join(SCENARIOS)
    )
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument(
        "--out", type=Path, default=HERE / "results", help="where results.md and charts/ go"
    )
    ap.add_argument(
        "--publish", action="store_true", help="also write bench/published.md (no charts)"
    )
    ap.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    ap.add_argument(
        "--from-json",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: write results.md and the charts again from a results.json",
    )
    args = ap.parse_args(argv)
    if args.from_json is not None:
        report = json.loads(args.from_json.read_text())
        _publish(report, args.publish)
        return _rewrite(report, args.out, args.no_charts)

    only = [k for k in args.libs.split(",") if k]
    scenarios = [s for s in args.scenarios.split(",") if s]
    for k in only:
        if k not in LIBS:
            ap.error(f"unknown system {k!r}; known: {', '.join(LIBS)}")
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    if args.reps < 1:
        ap.error("--reps must be >= 1")
    table = QUICK if args.quick else FULL
    plan = {s: [k for k in SYSTEMS[s] if not only or k in only] for s in scenarios}
    keys = [k for k in LIBS if any(k in v for v in plan.values())]

    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "reps": args.reps,
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "versions": versions(keys),
        "configs": {k: LIBS[k].config for k in keys},
        "guarantees": {k: LIBS[k].guarantee for k in keys},
        "sizes": {s: table[s] for s in scenarios},
        "plan": plan,
        "orders": {},
        "results": {},
    }
    for scenario in scenarios:
        systems = plan[scenario]
        if not systems:
            continue
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in systems}
        report["orders"][scenario] = []
        for rep in range(args.reps):
            order = systems if rep % 2 == 0 else systems[::-1]
            report["orders"][scenario].append(order)
            for key in order:
                t0 = time.perf_counter()
                res = run_worker(key, scenario, table[scenario])
                res["wall_s"] = time.perf_counter() - t0
                res["rep"] = rep
                runs[key].append(res)
                print(f"{scenario:>8} #{rep} {key:<22} {_summary(res)}", flush=True)
        report["results"][scenario] = runs
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report["elapsed_s"] = time.perf_counter() - started

    (args.out).mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    _publish(report, args.publish)
    return _rewrite(report, args.out, args.no_charts)


#: The last published figures, included by docs/benchmarks.md (kept in git; the charts are not).
PUBLISHED = HERE / "published.md"


def _publish(report: dict[str, Any], publish: bool) -> None:
    if publish:
        write_markdown(report, PUBLISHED, [])
        print(f"wrote {PUBLISHED}")


def _rewrite(report: dict[str, Any], out: Path, no_charts: bool) -> int:
    """Write results.md and the charts of ``report`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    charts: list[Path] = [] if no_charts else write_charts(report, out / "charts")
    write_markdown(report, out / "results.md", charts)
    print(f"wrote {out / 'results.md'} and {len(charts)} charts ({report['elapsed_s']:.0f} s run)")
    return 0


def _summary(res: dict[str, Any]) -> str:
    if "na" in res:
        return f"n/a: {res['na']}"
    if "error" in res:
        return f"ERROR: {res['error']}"
    parts = []
    for k, fmt in (
        ("per_call_us", "{:.2f}µs/call"),
        ("p50", "p50 {:.2f}µs"),
        ("p99", "p99 {:.2f}µs"),
        ("refused_us", "refused {:.3f}µs"),
        ("rate", "{:,.0f}/s"),
        ("growth_mb", "+{:.1f}MB"),
        ("lost", "lost {:,}"),
    ):
        if isinstance(res.get(k), int | float):
            parts.append(fmt.format(res[k]))
    if "http" in res:
        parts.append(f"http p50 {res['http']['p50_ms']:.2f}ms p99 {res['http']['p99_ms']:.2f}ms")
    return " ".join(parts) + f" ({res['wall_s']:.1f}s)"


if __name__ == "__main__":
    raise SystemExit(main())
