"""Where aiotelemetry spends its time: the call-cost and throughput loops under pyinstrument.

    python bench/profile.py                 # the caller's path: paced accepted calls
    python bench/profile.py throughput      # first call to everything on disk (blocking mode)
    python bench/profile.py refused         # calls below the level
    python bench/profile.py call --bare     # no profiler: for py-spy (py-spy record -- python ...)

The loops are scenario 1, 2 and 3 of ``bench/run.py`` (same call, same pacing), run long
enough for a sampling profiler to see sub-microsecond frames.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from array import array
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from bench.libs import AioTelemetry, Cfg  # noqa: E402
from bench.scenarios import BURST, PAUSE_S  # noqa: E402


async def workload(kind: str, n: int, folder: Path) -> None:
    """Run ``n`` calls of the given kind through aiotelemetry with one FileSink."""
    lib = AioTelemetry(Cfg(folder, mode="deliver" if kind == "throughput" else "default"))
    await lib.open()
    lat = array("q", bytes(8 * BURST))
    if kind == "call":
        for _ in range(n // BURST):
            await lib.timed(lat, 0, BURST)
            await asyncio.sleep(PAUSE_S)
    elif kind == "refused":
        for _ in range(n // 1000):
            await lib.refused_loop(1000)
    else:
        for _ in range(n // 1000):
            await lib.burst(1000)
            await asyncio.sleep(0)
    closed = await lib.close(30.0)
    print(f"{kind}: {n:,} calls; " + "; ".join(closed.notes), file=sys.stderr)


def main() -> int:
    """Parse the options and profile."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("kind", nargs="?", default="call", choices=("call", "refused", "throughput"))
    ap.add_argument("-n", type=int, default=300_000, help="calls (default 300,000)")
    ap.add_argument("--bare", action="store_true", help="no pyinstrument (run under py-spy)")
    ap.add_argument("--interval", type=float, default=0.0001, help="sampling interval, s")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        if args.bare:
            asyncio.run(workload(args.kind, args.n, Path(tmp)))
            return 0
        from pyinstrument import Profiler

        profiler = Profiler(interval=args.interval, async_mode="disabled")
        profiler.start()
        asyncio.run(workload(args.kind, args.n, Path(tmp)))
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, short_mode=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
