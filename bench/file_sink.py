"""Throughput of the file sink with and without rotation and gzip, in one run.

    python bench/file_sink.py [--signals 500000] [--repeat 3] [--dir /tmp]

Each configuration emits the same signals through a hub with one blocking handler (nothing is
dropped for lack of room) and is timed from the first signal until ``aclose()`` returns, so the
time includes every write, rotation, the gzip of every finished file and the final fsync.
Signals per second are the median over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from telemetry import Telemetry
from telemetry.sinks import FileSink

CONFIGS: dict[str, dict[str, Any]] = {
    "no rotation": {},
    "rotate 10 MB": {"rotate_bytes": "10 MB"},
    "rotate 10 MB + gzip": {"rotate_bytes": "10 MB", "compress": "gzip"},
}


async def run_once(
    folder: Path, n: int, options: dict[str, Any]
) -> tuple[float, int, dict[str, int]]:
    """Seconds to emit and write ``n`` signals; bytes on disk; the sink's counters."""
    sink = FileSink(folder / "bench.jsonl", **options)
    hub = Telemetry(
        handlers={"f": {"sink": sink, "mode": "blocking", "buffer_size": 8192}}, location=False
    )
    await hub.open()
    t0 = time.perf_counter()
    for i in range(n):
        await hub.log("info", "request served", i=i, path="/api/items", status=200, ms=1.25)
    stats = await hub.aclose()
    elapsed = time.perf_counter() - t0
    h = stats.handlers["f"]
    assert h.written == n, h
    assert not h.dropped, h
    return elapsed, dict(h.sink_counters)


def disk_usage(folder: Path) -> int:
    """Bytes in the files of ``folder``."""
    return sum(p.stat().st_size for p in folder.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp folder)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {args.signals} signals, median of {args.repeat}")
    print(f"{'configuration':<22} {'signals/s':>10} {'runs':>26} {'on disk':>9}  counters")
    for name, options in CONFIGS.items():
        rates: list[float] = []
        size, counters = 0, {}
        for _ in range(args.repeat):
            folder = Path(tempfile.mkdtemp(prefix="tel-bench-", dir=args.dir))
            try:
                elapsed, counters = asyncio.run(run_once(folder, args.signals, options))
                size = disk_usage(folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            rates.append(args.signals / elapsed)
        runs = " ".join(f"{r / 1000:.0f}k" for r in rates)
        print(
            f"{name:<22} {statistics.median(rates):>10,.0f} {runs:>26} "
            f"{size / 1e6:>7.1f}MB  {counters}"
        )


if __name__ == "__main__":
    main()
