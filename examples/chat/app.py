"""A chat server: FastAPI HTTP routes and websocket rooms, instrumented with aiotelemetry.

Run: ``uvicorn app:app --app-dir examples/chat`` (needs ``pip install 'aiotelemetry[fastapi]'
fastapi uvicorn``; ``make demo`` runs it, and drives it, from a source checkout).

- ``TelemetryMiddleware``: a span per request and per websocket connection; the request id
  (or connection id) is bound into the context, so every signal below carries it.
- ``telemetry_lifespan``: the hub opens with the app and is closed (everything written) when
  uvicorn stops on SIGTERM or Ctrl-C; the logging bridge brings uvicorn's own records along.
- Handlers: a JSON-lines file, the console (warnings and errors only), and journald / syslog
  when this machine has them and this version of aiotelemetry ships those sinks.

Environment: ``CHAT_LOG_DIR`` (default ``logs/chat``), ``CHAT_STATS`` (a file that receives the
final stats as JSON at shutdown), ``CHAT_TELEMETRY=off`` (no telemetry at all: the baseline for
measuring what it costs; set ``TELEMETRY_DISABLED=1`` too).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

import telemetry as tel
from telemetry import sinks
from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan

LOG_DIR = Path(os.environ.get("CHAT_LOG_DIR", "logs/chat"))
STATS = os.environ.get("CHAT_STATS")
TELEMETRY = os.environ.get("CHAT_TELEMETRY", "on") != "off"
HISTORY = 50
JOURNALD_SOCKET = Path("/run/systemd/journal/socket")
SYSLOG_SOCKET = Path("/dev/log")

log = logging.getLogger("chat")


class Post(BaseModel):
    user: str
    text: str


class Chat:
    """The rooms: who is connected, the recent history, and a few counts."""

    def __init__(self) -> None:
        self.members: dict[str, set[WebSocket]] = defaultdict(set)
        self.history: dict[str, deque[dict[str, str]]] = defaultdict(lambda: deque(maxlen=HISTORY))
        self.messages = 0
        self.deliveries = 0
        self.connections = 0

    async def say(self, room: str, user: str, text: str) -> int:
        """Record a message and send it to everyone in the room; return how many got it."""
        self.messages += 1
        message = {"room": room, "user": user, "text": text}
        self.history[room].append(message)
        delivered = 0
        for ws in list(self.members[room]):
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.send_json(message)
                delivered += 1
        self.deliveries += delivered
        return delivered


class CallCost:
    """Times ``await tel.log(...)`` as the app sees it, in nanoseconds."""

    def __init__(self, keep: int = 200_000) -> None:
        self.samples: deque[int] = deque(maxlen=keep)

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        t0 = time.perf_counter_ns()
        yield
        self.samples.append(time.perf_counter_ns() - t0)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.samples)
        if not ordered:
            return {"count": 0}

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] / 1000

        return {
            "count": len(ordered),
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "max_us": ordered[-1] / 1000,
        }


chat = Chat()
cost = CallCost()


def system_handlers() -> tuple[dict[str, Any], dict[str, str]]:
    """journald and syslog handlers, when the sink exists in this version of aiotelemetry and
    the machine has the socket; otherwise a note saying why not."""
    found: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for name, cls_name, socket_path in (
        ("journald", "JournaldSink", JOURNALD_SOCKET),
        ("syslog", "SyslogSink", SYSLOG_SOCKET),
    ):
        cls = getattr(sinks, cls_name, None)
        if cls is None:
            notes[name] = f"telemetry.sinks.{cls_name} is not available in this version"
        elif not socket_path.exists():
            notes[name] = f"no {socket_path} on this machine"
        else:
            try:
                found[name] = cls()
            except tel.TelemetryError as exc:
                notes[name] = f"{cls_name}() failed: {exc}"
    return found, notes


notes: dict[str, str] = {}


def handlers() -> dict[str, Any]:
    found, why = system_handlers()
    notes.update(why)
    return {
        "file": sinks.FileSink(LOG_DIR / "chat.jsonl"),
        "console": {"sink": sinks.ConsoleSink(format="text"), "min_level": "warn"},
        **found,
    }


def write_stats(stats: tel.Stats) -> None:
    if STATS is None:
        return
    report = {
        "stats": stats.to_dict(),
        "app": {
            "messages": chat.messages,
            "deliveries": chat.deliveries,
            "connections": chat.connections,
            "log_call_cost": cost.summary(),
            "log_file": str(LOG_DIR / "chat.jsonl"),
            "not_used": notes,
        },
    }
    Path(STATS).write_bytes(msgspec.json.encode(report))


@contextlib.asynccontextmanager
async def chat_lifespan(app: FastAPI) -> AsyncIterator[None]:
    log.info("chat app ready", extra={"history": HISTORY})
    yield
    log.info("chat app stopping", extra={"messages": chat.messages})


api = FastAPI(
    title="chat",
    lifespan=telemetry_lifespan(
        handlers,
        lifespan=chat_lifespan,
        logging_bridge="info",
        on_close=write_stats,
        middleware=[tel.redact()],
    )
    if TELEMETRY
    else chat_lifespan,
)


@api.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@api.get("/")
async def rooms() -> dict[str, Any]:
    return {room: len(members) for room, members in chat.members.items()}


@api.get("/rooms/{room}/messages")
async def history(room: str) -> list[dict[str, str]]:
    return list(chat.history[room])


@api.post("/rooms/{room}/messages", status_code=201)
async def post(room: str, body: Post) -> dict[str, int]:
    delivered = await chat.say(room, body.user, body.text)
    with cost.timed():
        await tel.event("chat.posted", room=room, user=body.user, delivered=delivered)
    return {"delivered": delivered}


@api.get("/rooms/{room}/report")
def report(room: str) -> dict[str, Any]:
    """A sync route: FastAPI runs it in a worker thread, where the *_nowait forms are used."""
    words = sum(len(m["text"].split()) for m in chat.history[room])
    tel.log_nowait("info", "report built", room=room, words=words)
    return {"room": room, "words": words}


@api.get("/boom")
async def boom() -> None:
    raise RuntimeError("the kitchen is on fire")


@api.websocket("/ws/{room}")
async def join(ws: WebSocket, room: str, user: str = "anon") -> None:
    await ws.accept()
    chat.members[room].add(ws)
    chat.connections += 1
    with cost.timed():
        await tel.log("info", "joined", room=room, user=user)
    try:
        while True:
            text = await ws.receive_text()
            with cost.timed():
                await tel.log("info", "message", room=room, user=user, size=len(text))
            await chat.say(room, user, text)
    except WebSocketDisconnect as exc:
        with cost.timed():
            await tel.log("info", "left", room=room, user=user, code=exc.code)
    finally:
        chat.members[room].discard(ws)


@api.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    """Echo every message: one signal per message (the round-trip measurement uses it)."""
    await ws.accept()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            text = await ws.receive_text()
            with cost.timed():
                await tel.log("info", "echo", size=len(text))
            await ws.send_text(text)


# The middleware wraps the whole app, outside FastAPI's own error handling, so that the 500
# response FastAPI sends for an unhandled exception carries the request id too.
app = (
    TelemetryMiddleware(
        api, skip_paths=["/healthz"], record_headers=["user-agent", "authorization"]
    )
    if TELEMETRY
    else api
)
