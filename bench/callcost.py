"""First figures for the core pipeline: the cost of one call on the caller, and end-to-end rate.

``python bench/callcost.py [N]`` prints the median / p99 cost of an allowed
``await tel.log("info", ...)`` with one file handler, of a refused one (below the level), and
signals per second from the first call to the end of ``aclose()`` (everything on disk).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import telemetry as tel
from telemetry.sinks import FileSink

_ns = time.perf_counter_ns


def _pct(samples: list[int], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] / 1000


async def call_cost(path: Path, n: int) -> dict[str, float]:
    """Per-call cost in microseconds, timed around each call, buffer big enough for no drops."""
    hub = tel.Telemetry(
        handlers={"file": {"sink": FileSink(path), "buffer_size": n + 10, "batch_size": 4096}},
        min_level="info",
    )
    allowed: list[int] = []
    allowed_batches: list[float] = []
    refused_batches: list[float] = []
    async with hub:
        log = tel.log
        gc.disable()
        # Per call, timer included (about 0.07 us of what is reported), for the tail.
        for i in range(n // 2):
            t0 = _ns()
            await log("info", "user joined", user=i, room="lobby", ratio=0.5)
            allowed.append(_ns() - t0)
            if i % 256 == 0:
                await asyncio.sleep(0)  # let the worker run, as an app would
        # Per batch of 256 calls, no timer in the loop, for the median.
        for _ in range(n // 512):
            t0 = _ns()
            for i in range(256):
                await log("info", "user joined", user=i, room="lobby", ratio=0.5)
            allowed_batches.append((_ns() - t0) / 256)
            await asyncio.sleep(0)
        for _ in range(n // 256):
            t0 = _ns()
            for _ in range(256):
                await log("debug", "refused", user=1, room="lobby", ratio=0.5)
            refused_batches.append((_ns() - t0) / 256)
        gc.enable()
    return {
        "allowed_p50_us": statistics.median(allowed_batches) / 1000,
        "allowed_call_p50_us": statistics.median(allowed) / 1000,
        "allowed_p99_us": _pct(allowed, 0.99),
        "refused_p50_us": statistics.median(refused_batches) / 1000,
    }


async def paced(path: Path, n: int) -> dict[str, float]:
    """Median cost in microseconds of each creator form, in bursts of 100 calls with a 0.5 ms
    pause (as bench/run.py's paced scenario), default buffer: the common configurations."""
    forms: list[tuple[str, str, dict[str, Any]]] = [
        ("await tel.log(...)", "log", {}),
        ("await tel.event(...)", "event", {}),
        ("tel.log_nowait(...)", "nowait", {}),
        ("await tel.log(...), per-namespace levels", "log", {"min_level": NS_LEVELS}),
    ]
    log, event, log_nowait = tel.log, tel.event, tel.log_nowait
    out = {}
    for label, form, options in forms:
        hub = tel.Telemetry(handlers={"file": FileSink(path)}, **options)
        bursts: list[float] = []
        async with hub:
            for _ in range(max(1, n // 100)):
                # One loop per form, so that nothing but the call itself is timed.
                t0 = _ns()
                if form == "log":
                    for i in range(100):
                        await log("info", "user joined", user=i, room="lobby", ratio=0.5)
                elif form == "event":
                    for i in range(100):
                        await event("user.joined", user=i, room="lobby", ratio=0.5)
                else:
                    for i in range(100):
                        log_nowait("info", "user joined", user=i, room="lobby", ratio=0.5)
                bursts.append((_ns() - t0) / 100)
                await asyncio.sleep(0.0005)
        out[label] = statistics.median(bursts) / 1000
    return out


#: A production-like min_level: some namespaces quieter than the rest.
NS_LEVELS = {"app.db.*": "warn", "httpx*": "warn", "*": "info"}


async def throughput(path: Path, n: int) -> tuple[float, int]:
    """Signals per second from the first call to the end of ``aclose()`` (blocking mode)."""
    hub = tel.Telemetry(
        handlers={"file": {"sink": FileSink(path), "mode": "blocking", "batch_size": 1024}}
    )
    t0 = time.perf_counter()
    async with hub:
        log = hub.log
        for i in range(n):
            await log("info", "user joined", user=i, room="lobby", ratio=0.5)
    return n / (time.perf_counter() - t0), hub.stats().written


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        cost = asyncio.run(call_cost(Path(tmp, "cost.jsonl"), n))
        forms = asyncio.run(paced(Path(tmp, "paced.jsonl"), n // 2))
        rate, written = asyncio.run(throughput(Path(tmp, "rate.jsonl"), n))
        lines = Path(tmp, "rate.jsonl").read_bytes().count(b"\n")
        assert lines == written == n, f"{lines} lines on disk, {written} written, expected {n}"
    print(f"calls: {n}")
    print(
        f"allowed await tel.log(...), one file handler: median {cost['allowed_p50_us']:.2f} us "
        f"(batches of 256); per call with timer p50 {cost['allowed_call_p50_us']:.2f} us, "
        f"p99 {cost['allowed_p99_us']:.2f} us"
    )
    print(f"refused (below min level): median {cost['refused_p50_us']:.3f} us (batches of 256)")
    for label, us in forms.items():
        print(f"paced {label}: median {us:.2f} us (bursts of 100, 0.5 ms apart)")
    print(f"end-to-end to a file (first call to aclose): {rate:,.0f} signals/s")


if __name__ == "__main__":
    main()
