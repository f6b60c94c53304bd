"""Where aiotelemetry spends its time: the bench's loops under pyinstrument.

    python bench/profile.py                 # the flood: awaited calls, no other await (defaults)
    python bench/profile.py flood --blocking   # the same with mode="blocking"
    python bench/profile.py paced           # groups of 100 calls with 0.5 ms idle
    python bench/profile.py refused         # calls below the level
    python bench/profile.py fanout          # the flood to three file handlers
    python bench/profile.py flood --bare    # no profiler: for py-spy (py-spy record -- python ...)

The loops are the ones ``bench/run.py`` times (the same generated call loop, the same
configuration), run long enough for a sampling profiler to see sub-microsecond frames.
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

from bench.libs import FIELDS, AioTelemetry, AioTelemetryBlocking, Cfg, compile_loops  # noqa: E402
from bench.scenarios import GROUP, PAUSE_S  # noqa: E402

KINDS = ("flood", "paced", "refused", "fanout")


async def workload(kind: str, n: int, folder: Path, blocking: bool) -> None:
    """Run ``n`` calls of the given kind through aiotelemetry."""
    cls = AioTelemetryBlocking if blocking else AioTelemetry
    lib = cls(Cfg(folder, sinks=3 if kind == "fanout" else 1))
    await lib.open()
    loops = compile_loops(lib, FIELDS[3])
    if kind in ("flood", "fanout"):
        await loops["flood"](n)
    elif kind == "paced":
        lat = array("q", bytes(8 * GROUP))
        for _ in range(n // GROUP):
            await loops["timed"](lat, 0, GROUP)
            await asyncio.sleep(PAUSE_S)
    else:
        await loops["refused"](n)
    closed = await lib.close()
    print(f"{kind}: {n:,} calls; " + "; ".join(closed.notes), file=sys.stderr)


def main() -> int:
    """Parse the options and profile."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("kind", nargs="?", default="flood", choices=KINDS)
    ap.add_argument("-n", type=int, default=300_000, help="calls (default 300,000)")
    ap.add_argument("--blocking", action="store_true", help="the handler in mode='blocking'")
    ap.add_argument("--bare", action="store_true", help="no pyinstrument (run under py-spy)")
    ap.add_argument("--interval", type=float, default=0.0001, help="sampling interval, s")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        run = workload(args.kind, args.n, Path(tmp), args.blocking)
        if args.bare:
            asyncio.run(run)
            return 0
        from pyinstrument import Profiler

        profiler = Profiler(interval=args.interval, async_mode="disabled")
        profiler.start()
        asyncio.run(run)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, short_mode=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
