"""The service benchmark's cost in instructions: the server of each set-up under callgrind.

    python bench/service_instructions.py       # every set-up, loaded until 400 requests are served
    python bench/service_instructions.py --seconds 4 --min 0 --setups bare,aiotelemetry

Wall-clock ratios on a shared or virtual machine move by a tenth from run to run; the number of
instructions the server executes per request does not (it is counted, not timed, to within a
percent or so). Each set-up's server (:mod:`bench.service_app`, as :mod:`bench.service` runs
it) is started under ``valgrind --tool=callgrind`` with counting off, warmed up, then counted
while it is loaded exactly as in the service benchmark (``wrk -t1 -c32`` on ``GET /items/1``,
or the websocket echo client) and until it has finished what was in flight. The requests (or
messages) its endpoints served in that window, which the server itself reports (SIGUSR1),
divide the instructions of all its threads (an exporter's thread included). The OTLP
receiver runs in its own process and is not counted, as in the service benchmark's CPU column.

``x bare`` is bare's instructions per request over the set-up's (``ws-bare``'s for websocket
set-ups): the throughput a set-up would have relative to bare on a core where every instruction
costs the same. It leaves out the system calls (the kernel is not counted) and what the
processor makes of the code (caches, branch prediction); the service benchmark measures those.
Under callgrind the server runs about 50 times slower, so the load it meets is far lighter
than in the service benchmark and batches are smaller: per-batch costs weigh a little more.

Needs valgrind (``apt-get install valgrind``) and wrk. Results go to ``--out`` (default
``bench/results/``): ``service_instructions.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.service import (  # noqa: E402
    LABELS,
    Unavailable,
    load,
    receiver_for,
    serving,
)
from bench.service_app import SETUPS  # noqa: E402

__all__ = ["main", "measure"]

#: Loading starts under callgrind only once the server listens; FastAPI's import alone takes
#: seconds at callgrind's pace.
START_TIMEOUT_S = 240.0
WARMUP_S = 2.0
#: How long the server is given to finish what was in flight when the load stopped, before
#: counting stops (its requests are still counted: the server reports what it served).
SETTLE_S = 1.0
#: The longest a set-up is loaded while counting, whatever ``--min`` asks.
MAX_LOAD_S = 120.0


def _served(proc: subprocess.Popen[str]) -> int:
    """Ask the server what its endpoints have served so far (requests + messages)."""
    assert proc.stdout is not None
    proc.send_signal(signal.SIGUSR1)
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the server ended before it said what it served")
        if line.startswith("served "):
            _, requests, messages = line.split()
            return int(requests) + int(messages)


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _totals(folder: Path) -> int:
    """The instructions counted in callgrind's dumps in ``folder`` (all threads)."""
    total = 0
    for f in folder.glob("callgrind.out*"):
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def measure(setup: str, seconds: float, min_units: int = 0) -> dict[str, Any]:
    """Serve ``setup`` under callgrind, load it for ``seconds`` (again, until ``min_units``
    requests or messages are served, for `MAX_LOAD_S` at most); the instructions per request
    (or message) counted, or ``{"na": reason}``."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return {"na": "valgrind is not installed (apt-get install valgrind)"}
    if not setup.startswith("ws-") and shutil.which("wrk") is None:
        return {"na": "wrk is not installed (apt-get install wrk)"}
    with (
        tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp,
        receiver_for(setup) as receiver,
    ):
        out = Path(tmp)
        callgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--quiet"]
        callgrind += [f"--callgrind-out-file={out / 'callgrind.out'}"]
        try:
            with serving(
                setup,
                out,
                receiver,
                prefix=callgrind,
                start_timeout=START_TIMEOUT_S,
                stop_timeout=300.0,
            ) as server:
                proc, port = server.proc, server.port
                load(setup, port, WARMUP_S, 32)
                time.sleep(SETTLE_S)
                before = _served(proc)
                _control(proc.pid, "-i", "on")
                # At callgrind's pace a loaded second serves tens of requests: the load goes on
                # until enough are served that the window's fixed costs (the server's timers,
                # an exporter's periodic work, the settling below) weigh little per request.
                deadline = time.monotonic() + MAX_LOAD_S
                while True:
                    res = load(setup, port, seconds, 32)
                    if _served(proc) - before >= min_units or time.monotonic() > deadline:
                        break
                time.sleep(SETTLE_S)
                _control(proc.pid, "-i", "off")
                units = _served(proc) - before
                _control(proc.pid, "-d")
        except Unavailable as exc:
            return {"na": str(exc)}
        instructions = _totals(out)
    if units <= 0:
        return {"na": f"no request served under callgrind ({res})"}
    return {"units": units, "instructions": instructions, "per_unit": instructions / units}


def table(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The Markdown table: instructions per request (message), x bare, and the extra over bare."""
    lines = [
        "| set-up | served | instructions / request (message) | x bare | extra / request |",
        "|---|---|---|---|---|",
    ]
    for setup, r in rows.items():
        if "na" in r:
            lines.append(f"| {LABELS[setup]} | {r['na']} | | | |")
            continue
        base = rows.get("ws-bare" if setup.startswith("ws-") else "bare", {})
        if "per_unit" in base:
            ratio = f"{base['per_unit'] / r['per_unit']:.2f}"
            extra = f"{r['per_unit'] - base['per_unit']:+,.0f}"
        else:
            ratio = extra = "n/a"
        lines.append(
            f"| {LABELS[setup]} | {r['units']:,} | {r['per_unit']:,.0f} | {ratio} | {extra} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse the options, measure each set-up once, print and write the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="load per set-up (default 8)")
    ap.add_argument(
        "--min",
        type=int,
        default=400,
        help="load again until this many requests (messages) are served (default 400)",
    )
    ap.add_argument(
        "--setups", default=",".join(SETUPS), help="comma-separated: " + ",".join(SETUPS)
    )
    ap.add_argument("--out", type=Path, default=HERE / "results", help="where results go")
    args = ap.parse_args(argv)
    setups = [s for s in args.setups.split(",") if s]
    for s in setups:
        if s not in SETUPS:
            ap.error(f"unknown set-up {s!r}; known: {', '.join(SETUPS)}")
    rows: dict[str, dict[str, Any]] = {}
    for setup in setups:
        try:
            rows[setup] = measure(setup, args.seconds, args.min)
        except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as exc:
            rows[setup] = {"na": f"{type(exc).__name__}: {exc}"}
        print(f"{setup:<18} {rows[setup]}", flush=True)
    lines = table(rows)
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python bench/service_instructions.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = {"command": command.strip(), "rows": rows}
    (args.out / "service_instructions.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "service_instructions.md").write_text(
        f"`{command.strip()}`\n\n" + "\n".join(lines) + "\n"
    )
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main(sys.argv[1:]))
