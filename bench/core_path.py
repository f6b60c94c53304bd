"""The emitting core under a flood: the figures behind what the docs say of the core path.

    python bench/core_path.py flood [N]     # N awaited calls with the defaults, into a file
    python bench/core_path.py stuck [N]     # the same into a sink whose write never returns
    python bench/core_path.py compare [N]   # per-call p50 and end-to-end rate beside the floor

``flood``: the plainest use, ``await tel.log(...)`` in a loop that awaits nothing else, with a
default ``FileSink``; it counts the lines on disk and reports the rate from the first call to
the end of ``aclose()``. ``stuck``: a sink whose ``write`` never returns; it reports the
longest single awaited call and the time for all of them, then ``aclose(timeout=1)`` and the
accounting. ``compare``: each configuration (the floor, the same-line floor, the defaults,
``location=False``, 3 handlers, a handler with its own filter) in a fresh interpreter, three
rounds in alternating order; per call the median of each call timed alone (timer included),
end to end the rate of a second, untimed flood of the same size; ratios are taken within a
round, then the median over rounds.

The floor is what any library must at least do: build a msgspec struct, append it to a deque,
and once per batch of 1,024 encode the batch with one call and write it with one ``os.write``.
Its lines carry time, level, message and the fields (about 90 bytes). The same-line floor does
the same but writes the line aiotelemetry writes (about 230 bytes: a uid, host, pid, the
caller's module and location), with nothing else: no context, span, thread check or count.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import telemetry as tel  # noqa: E402
from telemetry.sinks import FileSink  # noqa: E402
from telemetry.sinks._base import Sink  # noqa: E402

_ns = time.perf_counter_ns
CONFIGS = ("floor", "same-line floor", "defaults", "location=False", "3 handlers", "handler filter")


class _Floor(msgspec.Struct, gc=False):
    inst: int
    level: str
    msg: str
    data: dict[str, Any]


def _batch_file(
    path: Path,
) -> tuple[deque[Any], Callable[[], None], Awaitable[bool], Callable[[], None]]:
    """What both floors share: a deque, ``flush()`` (one encode and one ``os.write`` for all it
    holds), the finished awaitable their calls return, and ``close()`` (flush, fsync, close)."""
    enc = msgspec.json.Encoder()
    queue: deque[Any] = deque()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    done = asyncio.get_running_loop().create_future()
    done.set_result(True)

    def flush() -> None:
        os.write(fd, enc.encode_lines(queue))
        queue.clear()

    def close() -> None:
        flush()
        os.fsync(fd)
        os.close(fd)

    return queue, flush, done, close


async def _floor(path: Path, n: int, timed: bool) -> list[int]:
    queue, flush, done, close = _batch_file(path)
    time_ns = time.time_ns

    def log(level: str, msg: str, /, **data: Any) -> Awaitable[bool]:
        queue.append(_Floor(time_ns(), level, msg, data))
        if len(queue) >= 1024:
            flush()
        return done

    lat = await _loop(log, n, timed)
    close()
    return lat


class _Location(msgspec.Struct, gc=False):
    file: str
    line: int
    function: str


class _Line(msgspec.Struct, gc=False):
    inst: int
    uid: str
    kind: str
    level: str
    host: str
    pid: int
    ns: str
    msg: str
    data: dict[str, Any]
    location: _Location


async def _same_line_floor(path: Path, n: int, timed: bool) -> list[int]:
    """The floor, writing the line aiotelemetry writes: the same fields (a uid, host, pid, the
    caller's module and location, looked up per call and cached per call site), nothing else
    (no context, span, thread check, count or mode)."""
    queue, flush, done, close = _batch_file(path)
    time_ns = time.time_ns
    getframe = sys._getframe
    host, pid = os.uname().nodename, os.getpid()
    # uids made in bulk, as aiotelemetry's workers make its spares
    uids = random.getrandbits(64 * n).to_bytes(8 * n, "little").hex(" ", 8).split(" ")
    take = uids.pop
    sites: dict[int, tuple[str, _Location]] = {}

    def log(level: str, msg: str, /, **data: Any) -> Awaitable[bool]:
        frame = getframe(1)
        site = sites.get(id(frame.f_code) + frame.f_lasti)
        if site is None:
            code = frame.f_code
            site = sites[id(code) + frame.f_lasti] = (
                frame.f_globals["__name__"],
                _Location(code.co_filename, frame.f_lineno, code.co_name),
            )
        queue.append(_Line(time_ns(), take(), "log", level, host, pid, site[0], msg, data, site[1]))
        if len(queue) >= 1024:
            flush()
        return done

    lat = await _loop(log, n, timed)
    close()
    return lat


async def _loop(log: Callable[..., Awaitable[bool]], n: int, timed: bool) -> list[int]:
    if not timed:
        for i in range(n):
            await log("info", "request handled", user_id=i, path="/x", ms=1.5)
        return []
    lat = [0] * n
    for i in range(n):
        t0 = _ns()
        await log("info", "request handled", user_id=i, path="/x", ms=1.5)
        lat[i] = _ns() - t0
    return lat


def _hub(config: str, path: Path) -> tel.Telemetry:
    if config == "location=False":
        return tel.Telemetry(handlers={"f": FileSink(path)}, location=False)
    if config == "3 handlers":
        return tel.Telemetry(handlers={f"f{i}": FileSink(f"{path}.{i}") for i in range(3)})
    if config == "handler filter":
        return tel.Telemetry(handlers={"f": {"sink": FileSink(path), "min_level": "info"}})
    return tel.Telemetry(handlers={"f": FileSink(path)})


def _lines(path: Path) -> int:
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    return sum(p.read_bytes().count(b"\n") for p in files)


async def _flood_once(config: str, n: int, timed: bool) -> tuple[list[int], float, int]:
    """One flood of ``n`` calls into a fresh file: per-call times (if ``timed``), seconds from
    before the hub is made until it is closed and its files synced, and signals lost."""
    path = Path(tempfile.mkdtemp()) / "flood.jsonl"
    t0 = _ns()
    if config in ("floor", "same-line floor"):
        lat = await (_floor if config == "floor" else _same_line_floor)(path, n, timed)
        lost = n - _lines(path)
    else:
        hub = _hub(config, path)
        async with hub:
            lat = await _loop(tel.log, n, timed)
        stats = hub.stats()
        for h in stats.handlers.values():  # FileSink fsyncs on close (fsync="close")
            assert h.emitted == h.written + h.dropped_total
        lost = sum(h.dropped_total for h in stats.handlers.values())
        assert _lines(path) == sum(h.written for h in stats.handlers.values())
    return lat, (_ns() - t0) / 1e9, lost


async def one_run(config: str, n: int) -> dict[str, Any]:
    """One configuration: a flood with each call timed alone (for the p50), then an untimed
    flood (for the end-to-end rate), each into a fresh file (and, for aiotelemetry, a fresh
    hub); the first also warms up the interpreter."""
    lat, _, lost_timed = await _flood_once(config, n, timed=True)
    _, seconds, lost = await _flood_once(config, n, timed=False)
    lat.sort()
    return {"p50_us": lat[n // 2] / 1000, "rate": n / seconds, "lost": max(lost, lost_timed)}


def compare(n: int, rounds: int = 3) -> dict[str, Any]:
    """Every configuration in a fresh interpreter, ``rounds`` times in alternating order."""
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    for r in range(rounds):
        order = CONFIGS if r % 2 == 0 else tuple(reversed(CONFIGS))
        for config in order:
            out = subprocess.run(
                [sys.executable, __file__, "one", config, str(n)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[config].append(json.loads(out))
    table: dict[str, Any] = {}
    for config in CONFIGS:
        runs = results[config]
        table[config] = {
            "p50_us": statistics.median(x["p50_us"] for x in runs),
            "rate": statistics.median(x["rate"] for x in runs),
            "lost": max(x["lost"] for x in runs),
            # within each round, against that round's floor and defaults
            "rate_vs_floor": statistics.median(
                x["rate"] / f["rate"] for x, f in zip(runs, results["floor"], strict=True)
            ),
            "rate_vs_same_line": statistics.median(
                x["rate"] / f["rate"] for x, f in zip(runs, results["same-line floor"], strict=True)
            ),
            "p50_vs_floor": statistics.median(
                x["p50_us"] / f["p50_us"] for x, f in zip(runs, results["floor"], strict=True)
            ),
            "p50_vs_defaults": statistics.median(
                x["p50_us"] / d["p50_us"] for x, d in zip(runs, results["defaults"], strict=True)
            ),
        }
    return table


class _Hung(Sink):
    """A sink whose write never returns (a receiver that accepts and never answers)."""

    kind = "hung"

    async def write(self, batch: Sequence[tel.Signal]) -> None:
        await asyncio.Event().wait()


async def stuck(n: int) -> dict[str, Any]:
    """``n`` awaited calls into a hung sink: the longest call, the total, the accounting."""
    hub = tel.Telemetry(handlers={"hung": _Hung()})
    longest = 0
    async with hub:
        t0 = _ns()
        for i in range(n):
            t1 = _ns()
            await tel.log("info", "request handled", user_id=i, path="/x", ms=1.5)
            longest = max(longest, _ns() - t1)
        total = _ns() - t0
        t2 = _ns()
        await hub.aclose(timeout=1)
        closing = _ns() - t2
    h = hub.stats().handlers["hung"]
    return {
        "calls": n,
        "longest_call_ms": longest / 1e6,
        "all_calls_s": total / 1e9,
        "aclose_s": closing / 1e9,
        "emitted": h.emitted,
        "written": h.written,
        "dropped": h.dropped,
        "accounted": h.emitted == h.written + h.dropped_total,
    }


async def flood(n: int) -> dict[str, Any]:
    """``n`` awaited calls with the defaults into a file: lines on disk, drops, the rate."""
    path = Path(tempfile.mkdtemp()) / "flood.jsonl"
    t0 = _ns()
    async with tel.Telemetry(handlers={"f": FileSink(path)}) as hub:
        for i in range(n):
            await tel.log("info", "request handled", user_id=i, path="/x", ms=1.5)
    elapsed = (_ns() - t0) / 1e9
    h = hub.stats().handlers["f"]
    return {
        "calls": n,
        "lines": _lines(path),
        "written": h.written,
        "dropped": h.dropped,
        "seconds": elapsed,
        "rate": n / elapsed,
    }


def main(argv: list[str]) -> int:
    """The command line; see the module's docstring."""
    what = argv[0] if argv else "compare"
    if what == "one":
        print(json.dumps(asyncio.run(one_run(argv[1], int(argv[2])))))
        return 0
    n = int(argv[1]) if len(argv) > 1 else {"flood": 1_000_000, "stuck": 10_000}.get(what, 200_000)
    if what == "flood":
        print(json.dumps(asyncio.run(flood(n)), indent=2))
    elif what == "stuck":
        print(json.dumps(asyncio.run(stuck(n)), indent=2))
    else:
        table = compare(n)
        print(f"unpaced flood of {n:,} awaited calls, 3 rounds, medians (fresh interpreter each)")
        print(
            f"{'configuration':16s} {'p50 us':>7s} {'x floor':>8s} {'x defaults':>10s}"
            f" {'signals/s':>10s} {'of floor':>8s} {'of same-line':>12s} {'lost':>5s}"
        )
        for config, row in table.items():
            print(
                f"{config:16s} {row['p50_us']:7.3f} {row['p50_vs_floor']:7.2f}x"
                f" {row['p50_vs_defaults']:9.2f}x {row['rate']:10,.0f}"
                f" {row['rate_vs_floor']:8.0%} {row['rate_vs_same_line']:12.0%} {row['lost']:5d}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
