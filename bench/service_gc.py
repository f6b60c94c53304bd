"""What one request costs the process, counted without the load's noise: the service
benchmark's app driven in-process.

    python bench/service_gc.py [--requests N] [--setups bare,aiotelemetry,...]

Each set-up of :mod:`bench.service_app` is built in a process of its own and driven
directly through ASGI (its lifespan started and stopped as a server would), with 32 requests in
flight at a time on one loop, like ``wrk -c32``; websocket set-ups get 8 connections echoing
messages. No server and no sockets: what is counted is the app, the framework and the set-up
(the set-ups that export over OTLP send to the loopback receiver of :mod:`bench.otlp`, in a
process of its own, whose CPU is not counted).
Per set-up (after a warm-up of a tenth of the requests) it reports:

- CPU per request (or message), in µs (``time.process_time``);
- young (generation 0 and 1) and full (generation 2) collections per 10,000 requests, and the
  longest full one (``gc.callbacks``);
- objects promoted to the old generation per request: what survives a generation-1
  collection (counted as the growth of ``gc.get_objects(2)`` across it);
- objects found garbage by the collector per request (reference cycles: what feeds the young
  collections, which are triggered by allocations not yet freed);
- tracked objects a request in flight keeps alive (the growth of the tracked objects with 32
  requests parked in their response's ``send``, divided by 32).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
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

__all__ = ["main"]

#: The set-ups measured by default.
DEFAULT_SETUPS = "bare,aiotelemetry,aiotelemetry-nomw,structlog,ws-bare,ws-aiotelemetry"
IN_FLIGHT = 32
WS_CONNECTIONS = 8


class Counts:
    """Collections per generation, the longest full one, promoted and collected objects."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.longest_full_ms = 0.0
        self.promoted = 0
        self.collected = 0
        self._t0 = 0
        self._old = 0
        self.on = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        g = info["generation"]
        if phase == "start":
            if g == 1:
                self._old = len(gc.get_objects(2))
            self._t0 = time.perf_counter_ns()
            return
        ms = (time.perf_counter_ns() - self._t0) / 1e6
        self.collections[g] += 1
        self.collected += info["collected"]
        if g == 1:
            self.promoted += len(gc.get_objects(2)) - self._old
        elif g == 2:
            self.longest_full_ms = max(self.longest_full_ms, ms)


def _scope(path: str, kind: str = "http") -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")]
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "http" if kind == "http" else "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    if kind == "http":
        scope["method"] = "GET"
    else:
        scope["subprotocols"] = []
    return scope


async def _request(app: Any) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    await app(_scope("/items/1"), receive, send)


async def _http(app: Any, n: int) -> None:
    left = [n]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await _request(app)
            # The next request on a connection comes after a turn of the loop, as from a
            # socket: the loop's other tasks (a sink's worker) run between requests.
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def _paced(app: Any, n: int, rate: float) -> None:
    """``n`` requests started at ``rate`` a second, each in a task of its own, whatever the
    ones before are doing (a service at a moderate, steady rate, not under full load)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    tasks = []
    for i in range(n):
        wait = t0 + i / rate - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.ensure_future(_request(app)))
    await asyncio.gather(*tasks)


async def _ws_connection(app: Any, left: list[int]) -> None:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    echoed = asyncio.Event()
    inbox.put_nowait({"type": "websocket.connect"})

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            echoed.set()

    async def client() -> None:
        while left[0] > 0:
            left[0] -= 1
            echoed.clear()
            inbox.put_nowait({"type": "websocket.receive", "text": '{"op":"echo","n":1}'})
            await echoed.wait()
        inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

    await asyncio.gather(app(_scope("/ws", "websocket"), receive, send), client())


async def _ws(app: Any, n: int) -> None:
    left = [n]
    await asyncio.gather(*(_ws_connection(app, left) for _ in range(WS_CONNECTIONS)))


async def _in_flight(app: Any) -> float:
    """Tracked objects one request keeps alive while in flight: 32 requests parked in their
    response's ``send`` (the endpoint has run; the middleware and the framework still hold
    what they hold), against none."""
    gate = asyncio.Event()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            await gate.wait()

    gc.collect()
    before = len(gc.get_objects())
    tasks = [
        asyncio.ensure_future(app(_scope("/items/1"), receive, send)) for _ in range(IN_FLIGHT)
    ]
    for _ in range(50):
        await asyncio.sleep(0)
    gc.collect()
    during = len(gc.get_objects())
    gate.set()
    await asyncio.gather(*tasks)
    return (during - before) / IN_FLIGHT


async def _lifespan(app: Any) -> tuple[asyncio.Task[None], asyncio.Queue[dict[str, Any]]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    task = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    )
    inbox.put_nowait({"type": "lifespan.startup"})
    await started.wait()
    return task, inbox


async def _measure(
    setup: str, n: int, out: Path, endpoint: str = "", rate: float = 0.0
) -> dict[str, Any]:
    from bench.service_app import Served, build

    served = Served()
    app = build(setup, out, served, endpoint)
    task, inbox = await _lifespan(app)
    drive: Any = _ws if setup.startswith("ws-") else _http
    if rate and not setup.startswith("ws-"):

        async def drive(app: Any, k: int) -> None:
            await _paced(app, k, rate)

    await drive(app, max(n // 10, 100))
    counts = Counts()
    gc.callbacks.append(counts)
    gc.collect()
    counts.on = True
    cpu0 = time.process_time()
    await drive(app, n)
    cpu = time.process_time() - cpu0
    counts.on = False
    gc.callbacks.remove(counts)
    if setup.startswith("ws-"):
        alive = float("nan")
    else:
        alive = await _in_flight(app)
    inbox.put_nowait({"type": "lifespan.shutdown"})
    await task
    return {
        "setup": setup,
        "n": n,
        "cpu_us": cpu * 1e6 / n,
        "young_per_10k": (counts.collections[0] + counts.collections[1]) * 10_000 / n,
        "gen1_per_10k": counts.collections[1] * 10_000 / n,
        "full_per_10k": counts.collections[2] * 10_000 / n,
        "longest_full_ms": counts.longest_full_ms,
        "promoted": counts.promoted / n,
        "collected": counts.collected / n,
        "alive": alive,
        "reported": served.reported,
    }


def one(setup: str, n: int, rate: float = 0.0) -> dict[str, Any]:
    """Measure ``setup`` in this process (HTTP set-ups at ``rate`` requests a second when
    given, else 32 in flight)."""
    from bench.service import receiver_for

    # The set-ups that export over OTLP send to the loopback receiver, in a process of its own
    # as in the service benchmark.
    with (
        tempfile.TemporaryDirectory(prefix="bench-gc-") as tmp,
        receiver_for(setup) as receiver,
    ):
        endpoint = "" if receiver is None else receiver.endpoint
        return asyncio.run(_measure(setup, n, Path(tmp), endpoint, rate))


def main(argv: list[str] | None = None) -> int:
    """Measure each set-up in a process of its own; print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=20_000, help="per set-up (default 20,000)")
    ap.add_argument("--setups", default=DEFAULT_SETUPS)
    ap.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="HTTP requests a second, paced (default: as fast as 32 in flight go)",
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.requests, args.rate)))
        return 0
    rows = []
    for setup in args.setups.split(","):
        cmd = [
            sys.executable,
            str(Path(__file__)),
            "--one",
            setup,
            "--requests",
            str(args.requests),
            "--rate",
            str(args.rate),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            print(f"{setup}: failed: {done.stderr.strip()[-800:]}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        "| set-up | CPU / request | young GCs / 10k | full GCs / 10k | longest full "
        "| promoted / request | cyclic garbage / request | alive per request in flight |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['setup']} | {r['cpu_us']:.1f} µs | {r['young_per_10k']:.0f} "
            f"| {r['full_per_10k']:.2f} | {r['longest_full_ms']:.1f} ms | {r['promoted']:.3f} "
            f"| {r['collected']:.2f} | {r['alive']:.1f} |"
        )
    for r in rows:
        # How the sink wrote: batches, and the OTLP sink's HTTP requests (each costs the
        # loop far more than a record), per 1,000 requests served.
        reported = r["reported"] or {}
        sent = sum(c.get("requests", 0) for c in reported.get("sink_counters", {}).values())
        if reported:
            per = 1000 / r["n"]
            print(
                f"{r['setup']}: {reported.get('batches', 0) * per:.1f} batches"
                + (f", {sent * per:.1f} HTTP requests" if sent else "")
                + " per 1,000 requests (warm-up included)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
