"""Run every scenario for aiotelemetry and each peer, side by side, and write the report.

    python bench/run.py            # the full run (make bench), under 10 minutes on 2 cores
    python bench/run.py --quick    # tiny sizes: checks that the harness works, figures mean little

Each (scenario, library) pair runs in a fresh interpreter (``python -m bench.worker``), one
after the other, all within this one invocation, so that every ratio compares figures taken on
the same machine minutes apart. Writes ``results.md``, ``results.json`` and ``charts/*.png``
into ``--out`` (default: this folder).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import threading
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

#: Sizes of the full run. Every loop also stops at its time budget, and reports the count reached.
FULL: dict[str, dict[str, Any]] = {
    "call": {"n": 100_000, "budget_s": 4.0, "deadline_s": 10.0},
    "refused": {"n": 200_000, "budget_s": 3.0, "deadline_s": 10.0},
    "throughput": {"n": 200_000, "budget_s": 6.0, "deadline_s": 30.0},
    "fanout": {"n": 30_000, "budget_s": 4.0, "deadline_s": 10.0},
    "slow": {"n": 20_000, "budget_s": 3.0, "deadline_s": 5.0, "slow_s": 0.05},
    "lag": {
        "rate": 100_000,
        "seconds": 2.0,
        "baseline_s": 0.5,
        "tick_s": 0.001,
        "deadline_s": 10.0,
    },
    "memory": {"n": 1_000_000, "budget_s": 15.0, "deadline_s": 10.0},
}
#: Sizes of ``--quick``: enough to exercise every code path.
QUICK: dict[str, dict[str, Any]] = {
    "call": {"n": 500, "budget_s": 1.0, "deadline_s": 5.0},
    "refused": {"n": 1_000, "budget_s": 1.0, "deadline_s": 5.0},
    "throughput": {"n": 2_000, "budget_s": 1.0, "deadline_s": 5.0},
    "fanout": {"n": 300, "budget_s": 1.0, "deadline_s": 5.0},
    "slow": {"n": 200, "budget_s": 0.3, "deadline_s": 1.0, "slow_s": 0.05},
    "lag": {"rate": 20_000, "seconds": 0.2, "baseline_s": 0.1, "tick_s": 0.001, "deadline_s": 5.0},
    "memory": {"n": 5_000, "budget_s": 1.0, "deadline_s": 5.0},
}
#: How long one worker may take beyond its own budgets before it is killed and reported.
WORKER_SLACK_S = 60.0


class UdpDrain:
    """The syslog receiver of the fan-out scenario: a UDP socket on 127.0.0.1 that a thread of
    this (runner) process drains and counts, so that the library's process does no extra work."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # A big receive buffer, so that datagrams are not lost here while this thread waits
        # for the GIL (SO_RCVBUFFORCE passes the system cap when allowed).
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUFFORCE, 32 << 20)
        except (AttributeError, PermissionError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        self.rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.count = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="bench-udp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.count += 1

    def take(self, settle_s: float = 0.3) -> int:
        """The count since the last call, after letting late datagrams arrive."""
        time.sleep(settle_s)
        n, self.count = self.count, 0
        return n

    def close(self) -> None:
        """Stop the thread and close the socket."""
        self._stop = True
        self._thread.join()
        self.sock.close()


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
    """Installed versions of the libraries compared (and the JSON formatter stdlib uses)."""
    out: dict[str, str] = {}
    for key in keys:
        cls = LIBS[key]
        dists = {"logging": "python-json-logger", "logging-queue": "python-json-logger"}
        dist = dists.get(key, cls.dist)
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "not installed"
        if key.startswith("logging"):
            out[key] = f"stdlib {platform.python_version()} + python-json-logger {out[key]}"
    return out


def run_worker(key: str, scenario: str, sizes: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario for one library in a fresh interpreter; its result, or the error."""
    budget = sum(v for k, v in sizes.items() if k.endswith("_s") or k == "seconds")
    if scenario == "slow":
        budget *= 2
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CI", None)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.worker", key, scenario, json.dumps(sizes)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=budget + WORKER_SLACK_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {budget + WORKER_SLACK_S:.0f} s"}
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
    ap.add_argument("--libs", default=",".join(LIBS), help="comma-separated: " + ",".join(LIBS))
    ap.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ",".join(SCENARIOS)
    )
    ap.add_argument("--out", type=Path, default=HERE, help="where results.md and charts/ go")
    ap.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    args = ap.parse_args(argv)

    keys = [k for k in args.libs.split(",") if k]
    scenarios = [s for s in args.scenarios.split(",") if s]
    for k in keys:
        if k not in LIBS:
            ap.error(f"unknown library {k!r}; known: {', '.join(LIBS)}")
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    if "aiotelemetry" not in keys:
        ap.error("the ratios are to aiotelemetry: it must be among --libs")
    table = QUICK if args.quick else FULL

    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "versions": versions(keys),
        "configs": {k: LIBS[k].config for k in keys},
        "sizes": {s: table[s] for s in scenarios},
        "results": {},
    }
    udp = UdpDrain()
    report["udp_rcvbuf"] = udp.rcvbuf
    try:
        for scenario in scenarios:
            sizes = dict(table[scenario])
            if scenario == "fanout":
                sizes["udp_port"] = udp.port
            row: dict[str, Any] = {}
            for key in keys:
                t0 = time.perf_counter()
                udp.take(0)
                res = run_worker(key, scenario, sizes)
                if scenario == "fanout" and "na" not in res and "error" not in res:
                    res["syslog"] = udp.take()
                res["wall_s"] = time.perf_counter() - t0
                row[key] = res
                print(f"{scenario:>10} {key:<14} {_summary(scenario, res)}", flush=True)
            report["results"][scenario] = row
    finally:
        udp.close()
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report["elapsed_s"] = time.perf_counter() - started

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    charts: list[Path] = [] if args.no_charts else write_charts(report, out / "charts")
    write_markdown(report, out / "results.md", charts)
    print(f"wrote {out / 'results.md'} and {len(charts)} charts in {report['elapsed_s']:.0f} s")
    return 0


def _summary(scenario: str, res: dict[str, Any]) -> str:
    if "na" in res:
        return f"n/a: {res['na']}"
    if "error" in res:
        return f"ERROR: {res['error']}"
    if scenario in ("call", "refused", "fanout"):
        return f"n={res['n']} p50={res['p50']:.2f}µs p99={res['p99']:.2f}µs"
    if scenario == "throughput":
        return f"n={res['n']} {res['rate']:,.0f}/s valid={res['valid']}"
    if scenario == "slow":
        f, s = res["fast"], res["slow"]
        return f"fast p99={f['p99']:.2f}µs slow p99={s['p99']:.2f}µs slow n={s['n']}"
    if scenario == "lag":
        return f"rate={res['achieved_rate']:,.0f}/s lag p99={res['p99_ms']:.2f}ms"
    if scenario == "memory":
        return f"n={res['n']} growth={res['growth_mb']:.1f}MB"
    return ""


if __name__ == "__main__":
    raise SystemExit(main())
