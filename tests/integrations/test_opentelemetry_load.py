"""FastAPI's native telemetry through ``install()`` under load: a FastAPI app driven through
ASGI on one loop with 32 requests in flight and nothing else to wait for (the busiest a loop
gets), the spans exported by the OTLP sink with the defaults to the loopback receiver
(``tests/sinks/otlp_receiver.py``, in a process of its own, decoding with opentelemetry-proto).

OpenTelemetry's API is synchronous: a span ended on the loop cannot wait for room in a full
queue, so nothing slows the app down to the sink's pace; what the sink cannot keep up with is
parked, within a bound. These tests pin that a plain service loses nothing that way."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "httpx", "opentelemetry.sdk", "opentelemetry.proto")

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from telemetry import Telemetry
from telemetry.sinks import OTLPSink

from .test_opentelemetry import installed  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

RECEIVER = Path(__file__).parent.parent / "sinks" / "otlp_receiver.py"
IN_FLIGHT = 32
#: Server span, dependencies, endpoint, serialization.
SPANS_PER_REQUEST = 4


class ReceiverProcess:
    """The receiver as a script in a child process (as a collector is another process)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(RECEIVER), "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line[:1] == ["listening"], line
        self.endpoint = f"http://127.0.0.1:{line[1]}"

    def records(self) -> int:
        """Stop the receiver; the records it decoded."""
        out, _ = self.proc.communicate(timeout=60)
        return int(out.split()[-1])


@pytest.fixture
def receiver() -> Iterator[ReceiverProcess]:
    rx = ReceiverProcess()
    try:
        yield rx
    finally:
        if rx.proc.poll() is None:
            rx.proc.kill()
            rx.proc.wait()
        for pipe in (rx.proc.stdin, rx.proc.stdout):
            if pipe is not None:
                pipe.close()


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, Any]:
        return {"item_id": item_id, "name": "widget"}

    return app


async def _drive(app: FastAPI, n: int) -> int:
    """``n`` requests, ``IN_FLIGHT`` at a time, each connection's next one after a turn of the
    loop (as from a socket); the number answered 200."""
    left = [n]
    ok = [0]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items/1",
        "raw_path": b"/items/1",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] == 200:
            ok[0] += 1

    async def connection() -> None:
        while left[0] > 0:
            left[0] -= 1
            await app(dict(scope, state={}), receive, send)
            await asyncio.sleep(0)

    await asyncio.gather(*(connection() for _ in range(IN_FLIGHT)))
    return ok[0]


@pytest.mark.usefixtures("installed")
async def test_a_loaded_service_loses_no_span_through_the_otlp_sink(
    receiver: ReceiverProcess,
) -> None:
    """6,000 requests as fast as one loop serves them, the OTLP sink with the defaults: every
    span of FastAPI's native telemetry is written, none dropped, and the receiver has them."""
    n = 6000
    hub = Telemetry(handlers={"otlp": OTLPSink(receiver.endpoint, signals=["traces"])})
    async with hub:
        served = await _drive(_app(), n)
    stats = await hub.aclose()
    assert served == n
    assert stats.dropped == {}
    assert stats.emitted == stats.written == SPANS_PER_REQUEST * n
    assert receiver.records() == stats.written
