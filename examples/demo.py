"""``make demo``: the chat server under uvicorn, driven by real clients, stopped with SIGTERM.

Run: ``make demo`` from a source checkout (it sets up the development environment), or
``python examples/demo.py`` with ``pip install 'aiotelemetry[fastapi]' fastapi uvicorn httpx
websockets``.

1. Starts ``examples/chat/app.py`` under uvicorn twice, on 127.0.0.1 and ports the kernel picks:
   once instrumented (file, console, and journald / syslog when present), once with telemetry
   off, as the baseline for the round-trip measurement. uvicorn's logging is handed to the hub
   (``--log-config`` from ``uvicorn_log_config()``): each of its records is printed once.
2. Drives the instrumented one for a few seconds with httpx and websockets clients: chat rooms
   full of users, HTTP reads and posts, a sync route, and a route that raises.
3. Measures websocket round trips at a fixed message rate against both servers, alternating.
4. Stops both with SIGTERM, then prints what happened: requests, messages, signals written per
   handler, drops, what ``await tel.log(...)`` cost inside the app, the round trips, the files,
   and a few of the signals.

No external service is needed. Everything lands in ``logs/demo/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import connect

from telemetry.integrations.uvicorn import uvicorn_log_config

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "logs" / "demo"
CHAT_DIR = ROOT / "examples" / "chat"
STATS = OUT / "stats.json"
LOG_FILE = OUT / "chat.jsonl"

DRIVE_S = 3.0
ROOMS = ("lobby", "python", "random")
USERS_PER_ROOM = 4
MESSAGE_INTERVAL_S = 0.05
HTTP_CLIENTS = 4
RTT_RATE = 250  # messages per second
RTT_SEGMENT_S = 1.0
RTT_ROUNDS = 2
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    output: Path

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"


def log_config() -> Path:
    """uvicorn's logging handed to the hub (the documented set-up): a JSON file for
    ``--log-config``, so that each uvicorn record is printed once, by our sinks."""
    path = OUT / "uvicorn-logging.json"
    path.write_text(json.dumps(uvicorn_log_config("info")))
    return path


def start(name: str, env: dict[str, str]) -> Server:
    """uvicorn in a child process, serving on a socket bound here (no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.set_inheritable(True)
    output = OUT / f"uvicorn-{name}.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "app:app"),
                *("--app-dir", str(CHAT_DIR), "--fd", str(sock.fileno())),
                # the bare one keeps uvicorn's own logging: the baseline is plain uvicorn
                *(("--log-config", str(log_config())) if name == "on" else ()),
            ],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
            cwd=ROOT,
        )
    port = sock.getsockname()[1]
    sock.close()  # the child has its own copy; ours would keep the port open after it exits
    return Server(name, proc, port, output)


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    ids_echoed: int = 0
    connections: int = 0
    sent: int = 0
    received: int = 0


async def wait_ready(server: Server) -> None:
    async with httpx.AsyncClient(base_url=f"http://{server.addr}", timeout=START_TIMEOUT_S) as c:
        try:
            r = await c.get("/healthz")
        except httpx.HTTPError as exc:
            fail(server, f"did not answer: {exc!r}")
        if r.status_code != 200:
            fail(server, f"/healthz answered {r.status_code}")


def fail(server: Server, why: str) -> None:
    print(f"the {server.name} server {why}; its output ({server.output}):", file=sys.stderr)
    print(server.output.read_text(errors="replace")[-4000:], file=sys.stderr)
    raise SystemExit(1)


async def chat_user(addr: str, room: str, user: str, stop_at: float, tally: Tally) -> None:
    loop = asyncio.get_running_loop()
    async with connect(f"ws://{addr}/ws/{room}?user={user}") as ws:
        tally.connections += 1

        async def read() -> None:
            async for _ in ws:
                tally.received += 1

        reader = asyncio.create_task(read())
        i = 0
        while loop.time() < stop_at:
            await ws.send(f"hello from {user}, #{i}")
            tally.sent += 1
            i += 1
            await asyncio.sleep(MESSAGE_INTERVAL_S)
        await ws.close()
        await reader


async def http_user(client: httpx.AsyncClient, n: int, stop_at: float, tally: Tally) -> None:
    loop = asyncio.get_running_loop()
    i = 0
    while loop.time() < stop_at:
        i += 1
        rid = f"demo-{n}-{i}"
        headers = {"x-request-id": rid, "authorization": "Bearer demo-secret"}
        room = ROOMS[i % len(ROOMS)]
        kind = i % 10
        if kind == 0:
            # uvicorn closes the connection after a 500 from an app that raised; say so up
            # front, or the client may reuse that connection and race the close.
            r = await client.get("/boom", headers={**headers, "connection": "close"})
        elif kind == 1:
            trace_id = secrets.token_hex(16)  # as if a traced caller had sent the request
            headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
            rid = trace_id
            r = await client.get(f"/rooms/{room}/messages", headers=headers)
        elif kind == 2:
            r = await client.get(f"/rooms/{room}/report", headers=headers)
        elif kind in (3, 4):
            body = {"user": f"http-{n}", "text": f"posted over HTTP, #{i}"}
            r = await client.post(f"/rooms/{room}/messages", json=body, headers=headers)
        else:
            r = await client.get("/", headers=headers)
        tally.requests += 1
        tally.statuses[r.status_code] += 1
        tally.ids_echoed += r.headers.get("x-request-id") == rid


async def drive(server: Server) -> Tally:
    tally = Tally()
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + DRIVE_S
    async with httpx.AsyncClient(base_url=f"http://{server.addr}", timeout=30) as client:
        await client.get("/healthz")  # skipped by the middleware: no span
        await asyncio.gather(
            *(
                chat_user(server.addr, room, f"{room}-user{u}", stop_at, tally)
                for room in ROOMS
                for u in range(USERS_PER_ROOM)
            ),
            *(http_user(client, n, stop_at, tally) for n in range(HTTP_CLIENTS)),
        )
    return tally


async def round_trips(addr: str, seconds: float) -> list[int]:
    """Echo round trips at RTT_RATE messages per second, in nanoseconds."""
    loop = asyncio.get_running_loop()
    samples: list[int] = []
    payload = "x" * 64
    async with connect(f"ws://{addr}/echo") as ws:
        for _ in range(20):  # warm up
            await ws.send(payload)
            await ws.recv()
        period = 1 / RTT_RATE
        next_at = loop.time()
        end = next_at + seconds
        while loop.time() < end:
            t0 = time.perf_counter_ns()
            await ws.send(payload)
            await ws.recv()
            samples.append(time.perf_counter_ns() - t0)
            next_at += period
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
    return samples


async def measure(on: Server, off: Server) -> dict[str, list[int]]:
    results: dict[str, list[int]] = {"on": [], "off": []}
    for _ in range(RTT_ROUNDS):
        for name, server in (("on", on), ("off", off)):
            results[name] += await round_trips(server.addr, RTT_SEGMENT_S)
    return results


def stop(server: Server) -> tuple[int, float]:
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        code = server.proc.wait()
    return code, time.monotonic() - t0


def pct(samples: list[int], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] / 1000 if ordered else 0.0


# -- printing ------------------------------------------------------------------------------------


def show_signal(sig: dict[str, Any]) -> None:
    """One signal, readable: a headline, then its data, context, trace and error."""
    secs, ns = divmod(sig["inst"], 1_000_000_000)
    when = time.strftime("%H:%M:%S", time.localtime(secs)) + f".{ns // 1000:06d}"
    head = [when, sig["level"].upper(), sig["kind"]]
    head += [sig[k] for k in ("id", "msg") if sig.get(k)]
    if sig.get("duration_ns") is not None:
        head.append(f"({sig['duration_ns'] / 1e6:.2f} ms)")
    head.append(f"[{sig.get('ns')}]")
    if sig.get("location"):
        loc = sig["location"]
        head.append(f"{Path(loc['file']).name}:{loc['line']} {loc['function']}")
    print("  " + " ".join(str(h) for h in head))
    for key in ("data", "ctx"):
        if sig.get(key):
            pairs = " ".join(f"{k}={v}" for k, v in sig[key].items())
            print(f"      {key:<5} {pairs}")
    if sig.get("trace_id"):
        parent = f" parent {sig['parent_id']}" if sig.get("parent_id") else ""
        print(f"      trace {sig['trace_id']} span {sig.get('span_id')}{parent}")
    if sig.get("error"):
        err = sig["error"]
        frame = err["frames"][-1] if err.get("frames") else None
        at = f"  (at {Path(frame['file']).name}:{frame['line']})" if frame else ""
        print(f"      error {err['type']}: {err['message']}{at}")


def pick(signals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A few signals worth looking at, one of each kind of thing that happened."""
    wanted = [
        lambda s: s.get("id") == "http.request"
        and s["data"].get("http.response.status_code") == 500,
        lambda s: s.get("id") == "http.request" and s.get("parent_id") == "00f067aa0ba902b7",
        lambda s: s.get("id") == "websocket" and "close_code" in s["data"],
        lambda s: s.get("msg") == "message" and "connection_id" in s.get("ctx", {}),
        lambda s: s.get("msg") == "report built",
        lambda s: s.get("ns") == "uvicorn.access" and "request_id" in s.get("ctx", {}),
    ]
    out = []
    for test in wanted:
        found = next((s for s in signals if test(s)), None)
        if found is not None:
            out.append(found)
    return out


def report(
    tally: Tally,
    stopped: tuple[int, float],
    rtt: dict[str, list[int]],
    on: Server,
) -> None:
    rel = lambda p: os.path.relpath(p, Path.cwd())  # noqa: E731
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(tally.statuses.items()))
    print("\n== what happened " + "=" * 62)
    print(f"drove the chat server at http://{on.addr} for {DRIVE_S:.0f} s")
    print(f"  HTTP requests   {tally.requests} ({statuses})")
    print(f"  request ids     returned in {tally.ids_echoed} of {tally.requests} responses")
    print(
        f"  websockets      {tally.connections} connections in {len(ROOMS)} rooms, "
        f"{tally.sent} messages sent, {tally.received} deliveries received"
    )
    code, took = stopped
    print(f"  SIGTERM         the server stopped in {took:.2f} s (exit status {code})")

    if not STATS.exists():
        print(f"\nno {rel(STATS)}: the server did not shut down cleanly; see {rel(on.output)}")
        return
    result = msgspec.json.decode(STATS.read_bytes())
    stats, app = result["stats"], result["app"]
    print(
        f"\nsignals: {stats['emitted']} emitted, {stats['refused']} refused by the hub's filters\n"
        f"(the final stats, which the lifespan wrote after aclose() returned)"
    )
    print(f"  {'handler':<10}{'written':>9}{'dropped':>9}{'batches':>9}   write p50 / p99")
    for name, h in stats["handlers"].items():
        dropped = sum(h["dropped"].values())
        reasons = f" {h['dropped']}" if dropped else ""
        lat = h["latency"]
        print(
            f"  {name:<10}{h['written']:>9}{dropped:>9}{h['batches']:>9}   "
            f"{lat['p50_us']:.0f} / {lat['p99_us']:.0f} µs{reasons}"
        )
    for name, why in app["not_used"].items():
        print(f"  {name:<10} not used: {why}")
    print(
        f"  app counts      {app['messages']} chat messages, {app['deliveries']} deliveries, "
        f"{app['connections']} websocket connections"
    )

    c = app["log_call_cost"]
    print("\nwhat it cost:")
    if c.get("count"):
        print(
            f"  await tel.log(...) in the app   p50 {c['p50_us']:5.1f} µs   "
            f"p99 {c['p99_us']:5.1f} µs   max {c['max_us']:.0f} µs   (n={c['count']})"
        )
        print(
            "    (wall-clock inside the loaded app, on the cores the servers and the clients\n"
            "     share; the benchmarks' sub-microsecond figure is the call alone: see\n"
            "     docs/benchmarks.md, 'What a call costs, and why the demo shows more')"
        )
    print(
        f"  websocket round trip at {RTT_RATE} msg/s, one signal per message "
        f"({RTT_ROUNDS} x {RTT_SEGMENT_S:.0f} s each, alternating):"
    )
    for name, label in (("on", "telemetry on "), ("off", "telemetry off")):
        s = rtt[name]
        print(f"    {label}  p50 {pct(s, 0.5):5.0f} µs   p99 {pct(s, 0.99):5.0f} µs   (n={len(s)})")

    lines = LOG_FILE.read_bytes().splitlines() if LOG_FILE.exists() else []
    print("\nfiles:")
    print(f"  {rel(LOG_FILE):<32} {len(lines)} signals, JSON lines")
    print(f"  {rel(STATS):<32} final stats and the app's counts")
    print(f"  {rel(on.output):<32} the console: uvicorn's records and the app's, once each")
    signals = [msgspec.json.decode(line) for line in lines]
    print(f"\na few signals from {rel(LOG_FILE)}:")
    for sig in pick(signals):
        show_signal(sig)


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    base = {"CHAT_LOG_DIR": str(OUT), "NO_COLOR": "1"}
    on = start("on", {**base, "CHAT_STATS": str(STATS)})
    off = start("off", {**base, "CHAT_TELEMETRY": "off", "TELEMETRY_DISABLED": "1"})
    print(f"uvicorn serving examples/chat/app.py: instrumented on {on.addr}, bare on {off.addr}")
    try:

        async def run() -> tuple[Tally, dict[str, list[int]]]:
            await asyncio.gather(wait_ready(on), wait_ready(off))
            print(f"driving it for {DRIVE_S:.0f} s with httpx and websockets clients ...")
            tally = await drive(on)
            print(f"measuring websocket round trips at {RTT_RATE} msg/s, telemetry on and off ...")
            rtt = await measure(on, off)
            return tally, rtt

        tally, rtt = asyncio.run(run())
        print("stopping both servers with SIGTERM ...")
        stopped = stop(on)
        stop(off)
    finally:
        for server in (on, off):
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()
    report(tally, stopped, rtt, on)


if __name__ == "__main__":
    main()
