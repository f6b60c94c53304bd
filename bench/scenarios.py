"""The seven scenarios, each run for one library inside a fresh interpreter.

Each scenario is a coroutine ``(lib_cls, dir, sizes) -> dict`` returning plain numbers; the
runner (:mod:`bench.run`) starts one subprocess per library and scenario (:mod:`bench.worker`)
and puts the results side by side. Timings are perf_counter_ns around each call; every loop is
bounded both by a count and by a time budget, so that a slow library ends in time and the count
it reached is reported with its figure.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from .libs import Cfg, Closed, Lib, NotApplicable, record_ok

__all__ = ["SCENARIOS", "percentiles", "verify_files"]

Result = dict[str, Any]
#: Calls made between two pauses in the paced loops.
BURST = 100
#: The pause between bursts: the idle time a service has between requests, in which background
#: writers (tasks or threads) catch up.
PAUSE_S = 0.0005
#: The fan-out scenario's schedule: one burst of BURST calls every this many seconds (100,000
#: calls/s), whatever the library's speed, so that every library gets the same offered load.
FANOUT_PERIOD_S = 0.001
#: Calls between pauses in the slow-sink scenario.
SLOW_BURST = 10
#: How much of one written line the report shows.
SAMPLE_CHARS = 600
#: Calls per timed chunk of the untimed refused loop.
REFUSED_CHUNK = 1000
#: Call-site warm-up before any timing.
WARMUP = 2000


def percentiles(lat: array[int], n: int) -> dict[str, float]:
    """p50 / p99 / p99.9 / mean / max in µs of the first ``n`` samples (nanoseconds)."""
    if n == 0:
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0, "mean": 0.0, "max": 0.0}
    s = sorted(lat[:n])

    def pct(q: float) -> float:
        return s[min(n - 1, int(q * n))] / 1000

    return {
        "p50": pct(0.50),
        "p99": pct(0.99),
        "p999": pct(0.999),
        "mean": sum(s) / n / 1000,
        "max": s[-1] / 1000,
    }


def timer_overhead_ns() -> float:
    """The median of ``perf_counter_ns() - perf_counter_ns()``: what the per-call timing adds."""
    pc = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = pc()
        samples.append(pc() - t0)
    samples.sort()
    return float(samples[len(samples) // 2])


class _Floor(msgspec.Struct, frozen=True, gc=False):
    """20 fields, like a signal: what the floor measurement builds."""

    inst: int
    f1: Any = None
    f2: Any = None
    f3: Any = None
    f4: Any = None
    f5: Any = None
    f6: Any = None
    f7: Any = None
    f8: Any = None
    f9: Any = None
    f10: Any = None
    f11: Any = None
    f12: Any = None
    f13: Any = None
    f14: Any = None
    f15: Any = None
    f16: Any = None
    f17: Any = None
    f18: Any = None
    f19: Any = None


async def python_floor(n: int = 100_000) -> dict[str, float]:
    """What any pure-Python ``await log("info", "msg", a=1, b="x", c=2.5)`` costs before it does
    anything, timed like scenario 1: p50 in µs of (``bare``) a call that returns a finished
    future, and (``built``) one that also reads the caller's frame and the clock and builds a
    20-field msgspec struct positionally, as a library that records the call site must."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()
    done.set_result(True)
    getframe, now = sys._getframe, time.time_ns

    def bare(level: str, msg: str, /, **data: Any) -> Awaitable[bool]:
        return done

    def built(level: str, msg: str, /, **data: Any) -> Awaitable[bool]:
        frame = getframe(1)
        _Floor(now(), "uid", "log", level, frame.f_code, frame.f_lasti, msg, data, "h", 1)
        return done

    out = {}
    pc = time.perf_counter_ns
    for name, fn in (("bare", bare), ("built", built)):
        lat = array("q", bytes(8 * n))
        for start in range(0, n, BURST):
            for i in range(start, start + BURST):
                t0 = pc()
                await fn("info", "msg", a=1, b="x", c=2.5)
                lat[i] = pc() - t0
            await asyncio.sleep(PAUSE_S / 10)
        out[name] = percentiles(lat, n)["p50"]
    return out


def verify_files(files: list[Path]) -> dict[str, Any]:
    """Count the lines of ``files``; JSON-parse every one and check it carries the fields.
    ``sample`` is the first line, to show what each library writes."""
    lines = valid = 0
    sample = ""
    for path in files:
        with path.open("rb") as fh:
            for raw in fh:
                if not lines:
                    sample = raw.decode("utf-8", "replace").strip()[:SAMPLE_CHARS]
                lines += 1
                try:
                    if record_ok(raw.decode("utf-8")):
                        valid += 1
                except ValueError:
                    pass
    return {"lines": lines, "valid": valid, "files": len(files), "sample": sample}


def _closed(c: Closed) -> Result:
    return {
        "close_s": c.seconds,
        "close_timed_out": c.timed_out,
        "reported_dropped": c.reported_dropped,
        "reported_written": c.reported_written,
        "accounted": c.accounted,
        "delivered": c.delivered,
        "lib_notes": c.notes,
    }


async def _paced_timed(
    lib: Lib,
    n: int,
    budget_s: float,
    burst: int = BURST,
    pause_s: float = PAUSE_S,
    period_s: float | None = None,
) -> tuple[array[int], int]:
    """Timed calls in bursts: a pause of ``pause_s`` after each burst or, with ``period_s``, one
    burst per period on a fixed schedule (a library behind schedule goes on without pausing)."""
    lat = array("q", bytes(8 * n))
    i = 0
    start = time.perf_counter()
    until = start + budget_s
    bursts = 0
    while i < n and time.perf_counter() < until:
        k = min(burst, n - i)
        await lib.timed(lat, i, k)
        i += k
        bursts += 1
        if period_s is None:
            await asyncio.sleep(pause_s)
        else:
            await asyncio.sleep(max(0.0, start + bursts * period_s - time.perf_counter()))
    return lat, i


async def _flood(lib: Lib, n: int, budget_s: float) -> int:
    """Untimed calls in bursts of 1,000, one loop iteration between bursts, until ``n`` calls
    or ``budget_s`` seconds; returns the number of calls made."""
    i = 0
    until = time.perf_counter() + budget_s
    while i < n and time.perf_counter() < until:
        k = min(1000, n - i)
        await lib.burst(k)
        i += k
        await asyncio.sleep(0)
    return i


async def _warm(lib: Lib) -> None:
    scratch = array("q", bytes(8 * BURST))
    for _ in range(WARMUP // BURST):
        await lib.timed(scratch, 0, BURST)
        await asyncio.sleep(PAUSE_S)


async def call_cost(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """(1) One structured call with three fields: p50 / p99 / p99.9 in µs."""
    lib = cls(Cfg(d))
    await lib.open()
    await _warm(lib)
    lat, n = await _paced_timed(lib, sz["n"], sz["budget_s"])
    closed = await lib.close(sz["deadline_s"])
    res = {"n": n, **percentiles(lat, n), **_closed(closed), "warmup": WARMUP}
    if cls.key == "aiotelemetry":  # once per run is enough: it is the interpreter's figure
        res["floor"] = await python_floor(sz["n"])
    return res


async def refused(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """(2) A call below the level: per-call percentiles, and the mean over an untimed loop."""
    lib = cls(Cfg(d))
    await lib.open()
    n = sz["n"]
    lat = array("q", bytes(8 * n))
    await lib.refused_timed(lat, 0, min(n, WARMUP))
    i = 0
    until = time.perf_counter() + sz["budget_s"]
    while i < n and time.perf_counter() < until:
        k = min(1000, n - i)
        await lib.refused_timed(lat, i, k)
        i += k
        await asyncio.sleep(0)
    # The untimed figure: the mean per call over chunks of 1,000 calls, and the median chunk,
    # so that a preemption by another process spoils one chunk rather than the figure.
    chunks = []
    for _ in range(max(1, i // REFUSED_CHUNK)):
        t0 = time.perf_counter_ns()
        await lib.refused_loop(REFUSED_CHUNK)
        chunks.append((time.perf_counter_ns() - t0) / REFUSED_CHUNK / 1000)
    chunks.sort()
    loop_mean = chunks[len(chunks) // 2]
    closed = await lib.close(sz["deadline_s"])
    written = verify_files(lib.output_files())["lines"]
    return {
        "n": i,
        **percentiles(lat, i),
        "loop_mean": loop_mean,
        "written": written,
        **_closed(closed),
    }


async def throughput(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """(3) First call to everything on disk (after the library's close), file verified."""
    lib = cls(Cfg(d, mode="deliver"))
    await lib.open()
    t0 = time.perf_counter()
    i = await _flood(lib, sz["n"], sz["budget_s"])
    emit_s = time.perf_counter() - t0
    closed = await lib.close(sz["deadline_s"])
    total_s = time.perf_counter() - t0
    check = verify_files(lib.output_files())
    return {
        "n": i,
        "emit_s": emit_s,
        "total_s": total_s,
        "rate": check["valid"] / total_s if total_s else 0.0,
        "offered_rate": i / total_s if total_s else 0.0,
        **check,
        "missing": i - check["valid"],
        **_closed(closed),
    }


async def fanout(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """(4) Three destinations: file, syslog over UDP to the runner's socket, memory."""
    lib = cls(Cfg(d, variant="fanout", udp_port=sz["udp_port"]))
    await lib.open()
    await _warm(lib)
    lat, n = await _paced_timed(lib, sz["n"], sz["budget_s"], period_s=FANOUT_PERIOD_S)
    closed = await lib.close(sz["deadline_s"])
    check = verify_files(lib.output_files())
    return {
        "n": n,
        "emitted": n + WARMUP,
        **percentiles(lat, n),
        "file_valid": check["valid"],
        "memory": closed.delivered.get("memory"),
        **_closed(closed),
    }


async def slow_sink(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """(5) Caller latency with a fast sink, then with a 50 ms-per-write sink; drop accounting."""
    out: Result = {}
    for variant in ("fast", "slow"):
        sub = d / variant
        sub.mkdir()
        lib = cls(Cfg(sub, variant=variant, slow_s=sz["slow_s"]))
        await lib.open()
        # Bursts of 10: a library whose caller waits 50 ms per call overshoots the budget by
        # at most one burst.
        lat, n = await _paced_timed(lib, sz["n"], sz["budget_s"], burst=SLOW_BURST)
        closed = await lib.close(sz["deadline_s"])
        delivered = closed.delivered.get("sink", 0)
        dropped = closed.reported_dropped
        out[variant] = {
            "n": n,
            **percentiles(lat, n),
            **_closed(closed),
            "written": delivered,
            "unaccounted": n - delivered - (dropped or 0),
        }
    return out


async def loop_lag(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """(6) A ticker's scheduling delay while the app emits ``rate`` signals per second."""
    loop = asyncio.get_running_loop()
    interval = sz["tick_s"]

    async def ticker(stop: asyncio.Event, lags: list[float]) -> None:
        while not stop.is_set():
            expected = loop.time() + interval
            await asyncio.sleep(interval)
            lags.append(loop.time() - expected)

    async def measure(emit: Callable[[int], Awaitable[None]] | None, seconds: float) -> Result:
        stop = asyncio.Event()
        lags: list[float] = []
        task = asyncio.create_task(ticker(stop, lags))
        rate = sz["rate"]
        emitted = 0
        t0 = loop.time()
        while (now := loop.time()) - t0 < seconds:
            owed = int((now - t0) * rate) - emitted
            if emit is not None and owed > 0:
                k = min(owed, rate // 100)  # never more than 10 ms worth in one go
                await emit(k)
                emitted += k
            await asyncio.sleep(interval)
        elapsed = loop.time() - t0
        stop.set()
        await task
        lags.sort()
        m = len(lags)
        return {
            "ticks": m,
            "p50_ms": lags[m // 2] * 1000 if m else 0.0,
            "p99_ms": lags[min(m - 1, int(0.99 * m))] * 1000 if m else 0.0,
            "max_ms": lags[-1] * 1000 if m else 0.0,
            "emitted": emitted,
            "achieved_rate": emitted / elapsed,
        }

    baseline = await measure(None, sz["baseline_s"])
    lib = cls(Cfg(d))
    await lib.open()
    await _warm(lib)
    res = await measure(lib.burst, sz["seconds"])
    closed = await lib.close(sz["deadline_s"])
    check = verify_files(lib.output_files())
    return {
        **res,
        "baseline": baseline,
        "target_rate": sz["rate"],
        "written": check["valid"],
        **_closed(closed),
    }


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


async def memory(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """(7) RSS growth while flooding signals in the library's dropping mode."""
    lib = cls(Cfg(d, mode="dropping"))
    await lib.open()
    await _warm(lib)
    await asyncio.sleep(0.2)
    hwm_reset = _reset_hwm()
    rss0 = _status_kb("VmRSS")
    hwm0 = _status_kb("VmHWM")
    t0 = time.perf_counter()
    i = await _flood(lib, sz["n"], sz["budget_s"])
    flood_s = time.perf_counter() - t0
    hwm1 = _status_kb("VmHWM")
    rss1 = _status_kb("VmRSS")
    closed = await lib.close(sz["deadline_s"])
    hwm2 = _status_kb("VmHWM")
    check = verify_files(lib.output_files())
    base = rss0 if hwm_reset else hwm0
    return {
        "n": i,
        "flood_s": flood_s,
        "rate": i / flood_s if flood_s else 0.0,
        "rss_before_mb": rss0 / 1024,
        "growth_mb": max(0, hwm1 - base) / 1024,
        "growth_incl_close_mb": max(0, hwm2 - base) / 1024,
        "rss_after_flood_mb": rss1 / 1024,
        "hwm_reset": hwm_reset,
        "written": check["valid"],
        **_closed(closed),
    }


SCENARIOS: dict[str, Callable[[type[Lib], Path, dict[str, Any]], Awaitable[Result]]] = {
    "call": call_cost,
    "refused": refused,
    "throughput": throughput,
    "fanout": fanout,
    "slow": slow_sink,
    "lag": loop_lag,
    "memory": memory,
}


async def run_one(cls: type[Lib], scenario: str, sz: dict[str, Any]) -> Result:
    """Run one scenario for one library in a scratch folder; ``{"na": reason}`` when the library
    has no equivalent."""
    if scenario in cls.na:
        return {"na": cls.na[scenario]}
    with tempfile.TemporaryDirectory(prefix=f"bench-{cls.key}-") as tmp:
        try:
            res = await SCENARIOS[scenario](cls, Path(tmp), sz)
        except NotApplicable as exc:
            return {"na": str(exc)}
    res["timer_overhead_ns"] = timer_overhead_ns()
    return res
