"""Measuring a run: close the system, fsync and stop the clock, then verify what it wrote.

Shared by the scenarios (:mod:`bench.scenarios`) and the app-shaped one (:mod:`bench.app`).
"""

from __future__ import annotations

import os
import time
from array import array
from pathlib import Path
from typing import Any

from .libs import Closed, Lib, record_ok

__all__ = ["Result", "closed_fields", "finish", "fsync_files", "percentiles", "verify_files"]

Result = dict[str, Any]
#: How much of one written line the report shows.
SAMPLE_CHARS = 500


def percentiles(lat: array[int], n: int) -> dict[str, float]:
    """p50 / p99 / p99.9 / max in µs of the first ``n`` samples (nanoseconds)."""
    if n == 0:
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
    s = sorted(lat[:n])

    def pct(q: float) -> float:
        return s[min(n - 1, int(q * n))] / 1000

    return {"p50": pct(0.50), "p99": pct(0.99), "p999": pct(0.999), "max": s[-1] / 1000}


def fsync_files(files: list[Path]) -> None:
    """fsync every file the system wrote: part of every end-to-end time, for everyone."""
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def verify_files(files: list[Path], fields: dict[str, Any]) -> dict[str, Any]:
    """Count the lines of ``files`` and JSON-parse every one, checking the message and the
    fields; bytes per line; the first line as a sample."""
    import orjson

    lines = valid = size = 0
    sample = ""
    for path in files:
        size += path.stat().st_size
        with path.open("rb") as fh:
            for raw in fh:
                if not lines:
                    sample = raw.decode("utf-8", "replace").strip()[:SAMPLE_CHARS]
                lines += 1
                try:
                    if record_ok(orjson.loads(raw), fields):
                        valid += 1
                except orjson.JSONDecodeError:
                    pass
    return {
        "lines": lines,
        "valid": valid,
        "files": len(files),
        "bytes_per_line": size / lines if lines else 0.0,
        "sample": sample,
    }


def closed_fields(c: Closed) -> Result:
    """What a system's close reported, for the result."""
    return {
        "close_timed_out": c.timed_out,
        "reported_dropped": c.reported_dropped,
        "reported_written": c.reported_written,
        "accounted": c.accounted,
        "lib_notes": c.notes,
    }


async def finish(lib: Lib, t0: float, fields: dict[str, Any], expected: int) -> Result:
    """Close, fsync, stop the clock; then verify. ``expected``: calls made (one line each per
    file)."""
    t_close = time.perf_counter()
    closed = await lib.close()
    files = lib.output_files()
    fsync_files(files)
    t1 = time.perf_counter()
    check = verify_files(files, fields)
    total_s = t1 - t0
    sinks = lib.cfg.sinks
    return {
        "total_s": total_s,
        "close_s": t1 - t_close,
        **check,
        "expected": expected * sinks,
        "lost": expected * sinks - check["valid"],
        "rate": check["valid"] / sinks / total_s if total_s else 0.0,
        **closed_fields(closed),
    }
