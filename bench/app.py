"""The app-shaped scenario: a uvicorn server with an HTTP route and a websocket echo, driven at
a fixed rate by real clients (httpx, websockets) from another process.

The server runs in the system's own interpreter (``bench.worker``), with the system's call in
its handlers: two per HTTP request (received, answered), one per websocket message. The
client (``python -m bench.app URL RATE SECONDS``) sends requests on a fixed schedule whatever
the answers' pace (an open loop: a slow server sees requests pile up, as in production), and
websocket messages on the same schedule, and reports the latency of each.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["run_app"]

MARK = "APPCLIENT "
ROOT = Path(__file__).resolve().parent.parent


def _pcts(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    s = sorted(xs)
    n = len(s)
    return {
        "p50_ms": s[n // 2] * 1000,
        "p99_ms": s[min(n - 1, int(0.99 * n))] * 1000,
        "max_ms": s[-1] * 1000,
    }


async def run_app(cls: type[Any], d: Path, sz: dict[str, Any]) -> dict[str, Any]:
    """Serve, drive with the client process, close the system; latencies and lines."""
    import uvicorn

    from .libs import FIELDS, Cfg, compile_loops
    from .measure import finish

    lib = cls(Cfg(d))
    await lib.open()
    one = compile_loops(lib, FIELDS[3])["one"]
    calls = [0]

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await one()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"ok":true}'})
            await one()
            calls[0] += 2
        elif scope["type"] == "websocket":
            msg = await receive()
            if msg["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            while True:
                msg = await receive()
                if msg["type"] != "websocket.receive":
                    return
                await one()
                calls[0] += 1
                await send({"type": "websocket.send", "text": msg.get("text") or ""})

    # A free port (uvicorn's own listening socket: given a socket of ours instead, its
    # answers were held up about 40 ms each here).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        asgi,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        http="h11",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.01)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.app",
        f"127.0.0.1:{port}",
        str(sz["rate"]),
        str(sz["seconds"]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await proc.communicate()
    server.should_exit = True
    await task
    client: dict[str, Any] = {"error": err.decode()[-500:]}
    for line in out.decode().splitlines():
        if line.startswith(MARK):
            client = json.loads(line[len(MARK) :])
    t0 = time.perf_counter()
    res = await finish(lib, t0, FIELDS[3], calls[0])
    lost = 0 if cls.key == "off" else res["lost"]
    return {**client, "calls": calls[0], "lines": res["lines"], "valid": res["valid"], "lost": lost}


# -- the client process -------------------------------------------------------------------------


async def _client(addr: str, rate: int, seconds: float) -> dict[str, Any]:
    import httpx
    import websockets

    n = int(rate * seconds)
    http_lat: list[float] = []
    ws_lat: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()

    async with httpx.AsyncClient(
        base_url=f"http://{addr}", limits=httpx.Limits(max_connections=64)
    ) as client:

        async def one_request(at: float) -> None:
            nonlocal errors
            try:
                r = await client.get("/item")
                r.raise_for_status()
            except httpx.HTTPError:
                errors += 1
                return
            http_lat.append(loop.time() - at)

        # Warm the connection pool and the server's path, untimed.
        for _ in range(5):
            await asyncio.gather(*(client.get("/item") for _ in range(16)))

        async def on_schedule(step: Callable[[float], Awaitable[None]]) -> None:
            """Call ``step(at)`` ``n`` times, ``1 / rate`` seconds apart (an open loop)."""
            t0 = loop.time()
            for i in range(n):
                at = t0 + i / rate
                delay = at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await step(at)

        async def http() -> None:
            tasks: list[asyncio.Task[None]] = []

            async def start(at: float) -> None:
                tasks.append(asyncio.create_task(one_request(at)))

            await on_schedule(start)
            await asyncio.gather(*tasks)

        async def ws() -> None:
            async with websockets.connect(f"ws://{addr}/ws") as conn:

                async def ping(at: float) -> None:
                    sent = loop.time()
                    await conn.send("ping")
                    await conn.recv()
                    ws_lat.append(loop.time() - sent)

                await on_schedule(ping)

        await asyncio.gather(http(), ws())
    return {
        "requests": len(http_lat),
        "messages": len(ws_lat),
        "errors": errors,
        "http": _pcts(http_lat),
        "ws": _pcts(ws_lat),
        "http_mean_ms": statistics.fmean(http_lat) * 1000 if http_lat else 0.0,
    }


def main(argv: list[str]) -> None:
    """``python -m bench.app HOST:PORT RATE SECONDS``: drive the app, print one result line."""
    res = asyncio.run(_client(argv[0], int(argv[1]), float(argv[2])))
    sys.stdout.write(MARK + json.dumps(res) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
