"""The per-request state of the ASGI middleware as the app's ``send``: the last message of a
response goes to the server in the context the request came in with."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from telemetry._redact import KeyMatcher
from telemetry.integrations._asgi_exchange import Exchange

seen_in = contextvars.ContextVar("seen_in", default="outside")


def make(send: Any) -> Exchange:
    return Exchange(send, b"x-request-id", KeyMatcher(frozenset()), frozenset())


async def test_the_last_message_is_sent_outside_the_request() -> None:
    """The start and the body's first parts are sent in the request's context; the last part
    in the context from before the exchange was made, across the server's own suspensions,
    and what the server sets there does not leak into the request's context."""
    where: list[tuple[str, str]] = []
    set_by_server = contextvars.ContextVar("set_by_server", default="unset")

    async def server_send(message: dict[str, Any]) -> None:
        where.append((message["type"], seen_in.get()))
        await asyncio.sleep(0)  # a server waiting for its transport to drain
        where.append((message["type"] + " resumed", seen_in.get()))
        set_by_server.set("set")

    ex = make(server_send)
    token = seen_in.set("request")  # what the middleware binds once the exchange exists
    await ex({"type": "http.response.start", "status": 200, "headers": []})
    await ex({"type": "http.response.body", "body": b"a", "more_body": True})
    await ex({"type": "http.response.body", "body": b"b"})
    assert seen_in.get() == "request"
    seen_in.reset(token)
    assert where == [
        ("http.response.start", "request"),
        ("http.response.start resumed", "request"),
        ("http.response.body", "request"),
        ("http.response.body resumed", "request"),
        ("http.response.body", "outside"),
        ("http.response.body resumed", "outside"),
    ]
    assert set_by_server.get() == "set"  # the middle part ran in the request's context
    assert (ex.status, ex.size) == (200, 2)


async def test_errors_and_cancellation_pass_through_the_last_message() -> None:
    """An error the server's send raises reaches the app unchanged; a cancellation while the
    server's send waits reaches the server's send (in the context from before the request)
    and then the app."""
    boom = OSError("connection reset")

    async def failing(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        raise boom

    with pytest.raises(OSError, match="connection reset") as raised:
        await make(failing)({"type": "http.response.body", "body": b""})
    assert raised.value is boom

    started, cancelled = asyncio.Event(), []

    async def waiting(message: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(seen_in.get())
            raise

    ex = make(waiting)
    seen_in.set("request")
    task = asyncio.ensure_future(ex({"type": "http.response.body", "body": b""}))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == ["outside"]
