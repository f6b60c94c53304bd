"""The scenarios, each run for one system inside a fresh interpreter.

Each scenario is a coroutine ``(lib_cls, dir, sizes) -> dict`` of plain numbers. The clock of
every end-to-end figure stops only when the system's close has returned *and* its files have
been fsynced by the bench (the same ``os.fsync`` for everyone, after the system's own close);
then every line is parsed and checked, and the loss (calls made minus valid lines) is
reported for every run. No loop stops at a time budget: runs are sized to finish.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from array import array
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .libs import FIELDS, Cfg, Lib, compile_loops
from .measure import Result, closed_fields, finish, percentiles

__all__ = ["SCENARIOS", "run_one"]

#: Calls in one group of the paced scenario, and the idle time after each group.
GROUP = 100
PAUSE_S = 0.0005
#: Calls timed and thrown away before the timed calls of the paced scenarios.
WARMUP = 1000
#: Calls per chunk of the untimed refused loop.
CHUNK = 1000
#: Threads of the threads scenario.
THREADS = 4


def _n(cls: type[Lib], sz: dict[str, Any]) -> int:
    return int(sz["n_slow"] if cls.speed == "slow" and "n_slow" in sz else sz["n"])


async def _open(cls: type[Lib], d: Path, fields: int = 3, **cfg: Any) -> tuple[Lib, Any]:
    lib = cls(Cfg(d, **cfg))
    await lib.open()
    return lib, compile_loops(lib, FIELDS[fields])


async def _flood_run(cls: type[Lib], d: Path, n: int, fields: int = 3, **cfg: Any) -> Result:
    """Awaited calls in a loop with no other awaits, then close; per call and end to end."""
    lib, loops = await _open(cls, d, fields, **cfg)
    flood = loops["flood"]
    t0 = time.perf_counter()
    await flood(n)
    emit_s = time.perf_counter() - t0
    res = await finish(lib, t0, FIELDS[fields], n)
    return {"n": n, "emit_s": emit_s, "per_call_us": emit_s / n * 1e6, **res}


async def flood(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Unpaced flood, three fields."""
    return await _flood_run(cls, d, _n(cls, sz))


async def fields0(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Unpaced flood, no fields."""
    return await _flood_run(cls, d, _n(cls, sz), fields=0)


async def fields20(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Unpaced flood, twenty fields."""
    return await _flood_run(cls, d, _n(cls, sz), fields=20)


async def fanout(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Unpaced flood to three files at once (three handlers / sinks)."""
    return await _flood_run(cls, d, _n(cls, sz), sinks=3)


async def bind(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Unpaced flood inside a bound context of two keys."""
    n = _n(cls, sz)
    lib, loops = await _open(cls, d)
    flood_ = loops["flood"]
    t0 = time.perf_counter()
    with lib.bound():
        await flood_(n)
    emit_s = time.perf_counter() - t0
    res = await finish(lib, t0, FIELDS[3], n)
    return {"n": n, "emit_s": emit_s, "per_call_us": emit_s / n * 1e6, **res}


async def span(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Unpaced flood inside one span (aiotelemetry's ``tel.span``); the span's own signal is
    one more line."""
    import telemetry as tel

    n = _n(cls, sz)
    lib, loops = await _open(cls, d)
    flood_ = loops["flood"]
    t0 = time.perf_counter()
    async with tel.span("request"):
        await flood_(n)
    emit_s = time.perf_counter() - t0
    res = await finish(lib, t0, FIELDS[3], n)
    # The span's own signal (when written) is one more line, without the fields: in "lines",
    # never in "valid", and not expected.
    return {"n": n, "emit_s": emit_s, "per_call_us": emit_s / n * 1e6, **res}


async def threads(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Four threads calling the synchronous (aiotelemetry: ``log_nowait``) form at once, the
    event loop running meanwhile."""
    n = _n(cls, sz)
    lib, loops = await _open(cls, d)
    fn = loops.get("thread_flood")
    if fn is None:
        raise NotImplementedError(f"{cls.key}: no call from threads")
    each = n // THREADS
    ts = [threading.Thread(target=fn, args=(each,)) for _ in range(THREADS)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):  # noqa: ASYNC110 - the loop must keep running
        await asyncio.sleep(0.001)
    emit_s = time.perf_counter() - t0
    res = await finish(lib, t0, FIELDS[3], each * THREADS)
    return {"n": each * THREADS, "emit_s": emit_s, "per_call_us": emit_s / n * 1e6, **res}


async def paced(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Groups of 100 calls, each timed alone, with 0.5 ms idle after each group."""
    n = _n(cls, sz)
    lib, loops = await _open(cls, d)
    timed = loops["timed"]
    scratch = array("q", bytes(8 * GROUP))
    t0 = time.perf_counter()
    for _ in range(WARMUP // GROUP):
        await timed(scratch, 0, GROUP)
        await asyncio.sleep(PAUSE_S)
    lat = array("q", bytes(8 * n))
    group_means = []
    for start in range(0, n, GROUP):
        k = min(GROUP, n - start)
        await timed(lat, start, k)
        group_means.append(sum(lat[start : start + k]) / k / 1000)
        await asyncio.sleep(PAUSE_S)
    res = await finish(lib, t0, FIELDS[3], n + WARMUP)
    return {"n": n, **percentiles(lat, n), "mean": statistics.fmean(group_means), **res}


async def single(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """Single calls, each timed alone, each followed by a turn of the event loop (the
    background writer may run between any two calls)."""
    n = _n(cls, sz)
    lib, loops = await _open(cls, d)
    timed = loops["timed"]
    lat = array("q", bytes(8 * max(n, WARMUP)))
    t0 = time.perf_counter()
    for i in range(WARMUP):
        await timed(lat, i, 1)
        await asyncio.sleep(0)
    for i in range(n):
        await timed(lat, i, 1)
        await asyncio.sleep(0)
    res = await finish(lib, t0, FIELDS[3], n + WARMUP)
    return {"n": n, **percentiles(lat, n), **res}


async def refused(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """A call below the level, untimed in chunks of 1,000 (median chunk); beside it, in the
    same process, an empty ``await`` of a finished future and an awaited call with the same
    arguments to a function that only returns that future."""
    n = _n(cls, sz)
    lib, loops = await _open(cls, d)
    refused_ = loops["refused"]
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    done.set_result(None)

    def nothing(*args: Any, **kwargs: Any) -> Any:
        return done

    ns: dict[str, Any] = {"_done": done, "_nothing": nothing}
    exec(  # the bench's own source
        "async def empty(n):\n    done = _done\n    for _ in range(n):\n        await done\n"
        "async def call(n):\n    f = _nothing\n    for _ in range(n):\n"
        "        await f('debug', 'msg', a=1, b='x', c=2.5)\n",
        ns,
    )

    async def median_chunk(fn: Callable[[int], Awaitable[None]]) -> float:
        await fn(CHUNK)  # warm
        per = []
        for _ in range(max(1, n // CHUNK)):
            t0 = time.perf_counter_ns()
            await fn(CHUNK)
            per.append((time.perf_counter_ns() - t0) / CHUNK / 1000)
        return statistics.median(per)

    refused_us = await median_chunk(refused_)
    empty_us = await median_chunk(ns["empty"])
    call_us = await median_chunk(ns["call"])
    if not cls.awaited:
        # A synchronous API has no await to compare with: the floor is a plain call.
        ns2: dict[str, Any] = {"_nothing": nothing}
        exec(  # the bench's own source
            "async def call(n):\n    f = _nothing\n    for _ in range(n):\n"
            "        f('debug', 'msg', a=1, b='x', c=2.5)\n",
            ns2,
        )
        call_us = await median_chunk(ns2["call"])
    t0 = time.perf_counter()
    res = await finish(lib, t0, FIELDS[3], 0)
    return {
        "n": n,
        "refused_us": refused_us,
        "empty_await_us": empty_us,
        "empty_call_us": call_us,
        "vs_empty_await": refused_us / empty_us if empty_us else 0.0,
        "lines": res["lines"],
    }


async def slow(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """A destination that takes ``slow_s`` per write call: the caller's latency while it is
    slow, and whether every call was written or counted as dropped."""
    n = _n(cls, sz)
    burst = sz["burst"]
    lib, loops = await _open(cls, d, slow_s=sz["slow_s"])
    timed = loops["timed"]
    lat = array("q", bytes(8 * n))
    t0 = time.perf_counter()
    for start in range(0, n, burst):
        await timed(lat, start, min(burst, n - start))
        await asyncio.sleep(sz["pause_s"])
    emit_s = time.perf_counter() - t0
    t_close = time.perf_counter()
    closed = await lib.close()
    close_s = time.perf_counter() - t_close
    delivered = closed.delivered or 0
    dropped = closed.reported_dropped
    return {
        "n": n,
        **percentiles(lat, n),
        "emit_s": emit_s,
        "close_s": close_s,
        "written": delivered,
        "lost": n - delivered,
        "unaccounted": n - delivered - (dropped or 0),
        **closed_fields(closed),
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
    """Peak RSS growth while flooding ``n`` signals that are all written (lossless set-ups)."""
    n = _n(cls, sz)
    lib, loops = await _open(cls, d)
    await loops["flood"](1000)
    await asyncio.sleep(0.1)
    hwm_reset = _reset_hwm()
    rss0 = _status_kb("VmRSS")
    hwm0 = _status_kb("VmHWM")
    t0 = time.perf_counter()
    await loops["flood"](n)
    emit_s = time.perf_counter() - t0
    hwm1 = _status_kb("VmHWM")
    res = await finish(lib, t0, FIELDS[3], n + 1000)
    hwm2 = _status_kb("VmHWM")
    base = rss0 if hwm_reset else hwm0
    return {
        "n": n,
        "emit_s": emit_s,
        "rss_before_mb": rss0 / 1024,
        # The peak never falls below the RSS it was reset to (or below itself): a negative
        # growth is a wrong reading, shown as it is rather than as 0.
        "growth_mb": (hwm1 - base) / 1024,
        # The peak including the close is at least the peak before it, by definition. A later
        # VmHWM can read lower: it is the larger of the peak the kernel stores, raised only at
        # some points (an unmap, the exit), and the current count, itself gathered lazily from
        # per-thread or per-CPU counters; memory given back in between lowers the reading.
        "growth_incl_close_mb": (max(hwm1, hwm2) - base) / 1024,
        "hwm_reset": hwm_reset,
        **res,
    }


async def app(cls: type[Lib], d: Path, sz: dict[str, Any]) -> Result:
    """A uvicorn HTTP + websocket app at a fixed request rate (see :mod:`bench.app`)."""
    from .app import run_app

    return await run_app(cls, d, sz)


SCENARIOS: dict[str, Callable[[type[Lib], Path, dict[str, Any]], Awaitable[Result]]] = {
    "flood": flood,
    "paced": paced,
    "single": single,
    "refused": refused,
    "fields0": fields0,
    "fields20": fields20,
    "bind": bind,
    "span": span,
    "threads": threads,
    "fanout": fanout,
    "slow": slow,
    "memory": memory,
    "app": app,
}


async def run_one(cls: type[Lib], scenario: str, sz: dict[str, Any]) -> Result:
    """Run one scenario for one system in a scratch folder; ``{"na": reason}`` when the system
    has no equivalent."""
    if scenario in cls.na:
        return {"na": cls.na[scenario]}
    with tempfile.TemporaryDirectory(prefix=f"bench-{cls.key}-") as tmp:
        return await SCENARIOS[scenario](cls, Path(tmp), sz)
