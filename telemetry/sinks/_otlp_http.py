"""Delivering one OTLP request over HTTP, as the specification asks.

One request is retried on 429, 502, 503 and 504 (after ``Retry-After`` when the receiver sends
one, else after an exponential back-off with jitter) and on a failure with no response (refused
connection, reset, a reply that is not HTTP, no reply in time); never on another status. Every
wait and every attempt ends by the request's deadline. A response body is read up to
`MAX_RESPONSE_BYTES`: a receiver that answers with an endless body costs nothing more.

Imported only by an [`OTLPSink`][telemetry.sinks.OTLPSink], so that the core never needs ``httpx``.
"""

from __future__ import annotations

import email.utils
import enum
import random
import time
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import msgspec

__all__ = [
    "INITIAL_BACKOFF_S",
    "MAX_RESPONSE_BYTES",
    "RETRYABLE",
    "STREAM_BYTES",
    "STREAM_CHUNK",
    "Answer",
    "Outcome",
    "backoff",
    "gzip",
    "gzip_parts",
    "post",
    "post_sync",
    "retry_after",
]

#: The statuses the specification allows a client to retry.
RETRYABLE = frozenset({429, 502, 503, 504})
#: The most of a response body that is read (a partial success, an error message).
MAX_RESPONSE_BYTES = 64 * 1024
#: The first wait before a retry without ``Retry-After``; it doubles with every retry.
INITIAL_BACKOFF_S = 0.1
#: Bytes compressed per step of the loop: about a millisecond of zlib's time.
GZIP_CHUNK = 64 * 1024
#: A request larger than this is sent part by part (never joined into one ``bytes``) ...
STREAM_BYTES = 1024 * 1024
#: ... its small parts joined into chunks of about this size.
STREAM_CHUNK = 256 * 1024


_DONE = httpx.ByteStream(b"")
"""The stream of a response once it is read and closed (see `_once`)."""


class Outcome(enum.Enum):
    """How one request ended."""

    #: A 2xx answer: the receiver took the records (a partial success may still reject some).
    ACCEPTED = "accepted"
    #: A status that must not be retried (400, 401, 413, 500, ...).
    REFUSED = "refused"
    #: Retries ran out of time, or there was none to try.
    UNREACHABLE = "unreachable"


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """The end of one request: its outcome, the last status (0: no response), the response
    body (at most `MAX_RESPONSE_BYTES`), what went wrong last, and the attempts made."""

    outcome: Outcome
    status: int = 0
    body: bytes = b""
    error: str = ""
    attempts: int = 1
    truncated: bool = False


def backoff(retry: int, max_backoff: float) -> float:
    """The wait before retry number ``retry`` (0 first): doubling from
    `INITIAL_BACKOFF_S` up to ``max_backoff``, times a random factor from 0.5 to 1.5 so
    that clients that failed together do not come back together."""
    base: float = min(INITIAL_BACKOFF_S * 2.0**retry, max_backoff)
    return base * (0.5 + random.random())


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date;
    ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        secs = when.timestamp() - (time.time() if now is None else now)
    if secs != secs:  # NaN
        return None
    return max(0.0, secs)


async def gzip_parts(parts: list[bytes]) -> list[bytes]:
    """The parts of a body gzipped, as parts: a chunk per step of the loop, never joined."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = []
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(part), GZIP_CHUNK):
            if len(part) > GZIP_CHUNK:
                await anyio.lowlevel.checkpoint()
            out.append(comp.compress(view[start : start + GZIP_CHUNK]))
    out.append(comp.flush())
    return out


def _content(
    body: bytes | list[bytes], headers: Mapping[str, str], *, sync: bool
) -> tuple[Any, dict[str, str]]:
    """What httpx is given to send ``body``: the bytes, or the parts one after the other
    (small ones joined up to `STREAM_CHUNK`) with the length said up front (not chunked)."""
    if isinstance(body, bytes):
        return body, dict(headers)
    length = {"Content-Length": str(sum(map(len, body)))}
    return (_chunks(body) if sync else _achunks(body)), {**headers, **length}


def _chunks(parts: list[bytes]) -> Iterator[bytes]:
    run: list[bytes] = []
    size = 0
    for part in parts:
        if len(part) >= STREAM_CHUNK:
            if run:
                yield b"".join(run)
                run, size = [], 0
            yield part
            continue
        run.append(part)
        size += len(part)
        if size >= STREAM_CHUNK:
            yield b"".join(run)
            run, size = [], 0
    if run:
        yield b"".join(run)


async def _achunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in _chunks(parts):
        yield chunk


async def gzip(body: bytes) -> bytes:
    """``body`` gzipped, a chunk per step of the loop so that no step is long."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = []
    view = memoryview(body)
    for start in range(0, len(body), GZIP_CHUNK):
        if start:
            await anyio.lowlevel.checkpoint()
        out.append(comp.compress(view[start : start + GZIP_CHUNK]))
    out.append(comp.flush())
    return b"".join(out)


async def _once(
    client: httpx.AsyncClient,
    url: str,
    body: bytes | list[bytes],
    headers: Mapping[str, str],
    remaining: float,
) -> tuple[int, httpx.Headers, bytes, bool]:
    # The whole exchange, not each read, is bounded: a receiver that trickles its answer byte
    # by byte ends by the deadline too.
    with anyio.fail_after(remaining):
        content, sent_headers = _content(body, headers, sync=False)
        request = client.build_request("POST", url, content=content, headers=sent_headers)
        response = await client.send(request, stream=True)
        try:
            chunks = []
            size = 0
            truncated = False
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    truncated = True
                    break
            return (
                response.status_code,
                response.headers,
                b"".join(chunks)[:MAX_RESPONSE_BYTES],
                truncated,
            )
        finally:
            await response.aclose()
            # httpx's response and its stream refer to each other: left so, every request
            # would leave a cycle for the garbage collector (about a dozen objects, kept until
            # a collection finds them, promoted to the old generation if one comes meanwhile).
            response.stream = _DONE


def _final(status: int, payload: bytes, attempts: int, truncated: bool) -> Answer:
    """The answer to a response that ends the attempts: accepted (2xx) or refused."""
    return Answer(
        outcome=Outcome.ACCEPTED if 200 <= status < 300 else Outcome.REFUSED,
        status=status,
        body=payload,
        attempts=attempts,
        truncated=truncated,
    )


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes | list[bytes],
    headers: Mapping[str, str],
    *,
    deadline: float,
    retry: bool,
    max_backoff: float,
) -> Answer:
    """POST ``body`` to ``url`` until it is accepted, refused, or ``deadline`` (a
    ``time.monotonic()`` value) leaves no time for another attempt. With ``retry`` false, one
    attempt only."""
    attempts = 0
    last_status = 0
    error = ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempts += 1
        wait: float | None
        try:
            status, resp_headers, payload, truncated = await _once(
                client, url, body, headers, remaining
            )
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            # No usable response: a refused connection, a reset, a reply that is not HTTP,
            # no reply in time. The request may or may not have arrived; sending it again
            # risks a duplicate, which the specification accepts.
            last_status = 0
            error = repr(exc) if str(exc) else type(exc).__name__
            wait = backoff(attempts - 1, max_backoff)
        else:
            if 200 <= status < 300 or status not in RETRYABLE:
                return _final(status, payload, attempts, truncated)
            last_status = status
            error = f"HTTP {status}"
            wait = retry_after(resp_headers.get("retry-after"))
            if wait is None:
                wait = backoff(attempts - 1, max_backoff)
        if not retry or time.monotonic() + wait >= deadline:
            break
        await anyio.sleep(wait)
    return Answer(
        outcome=Outcome.UNREACHABLE,
        status=last_status,
        error=error or "no time left for an attempt",
        attempts=attempts,
    )


def post_sync(
    client: httpx.Client,
    url: str,
    body: bytes | list[bytes],
    headers: Mapping[str, str],
    *,
    deadline: float,
) -> Answer:
    """POST ``body`` once, on the calling thread, giving up at ``deadline`` (the exit
    fallback: there is no time to retry)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return Answer(outcome=Outcome.UNREACHABLE, error="no time left", attempts=0)
    content, sent_headers = _content(body, headers, sync=True)
    try:
        with client.stream(
            "POST", url, content=content, headers=sent_headers, timeout=remaining
        ) as response:
            chunks = []
            size = 0
            truncated = False
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                    truncated = True
                    break
            status = response.status_code
    except (httpx.HTTPError, OSError) as exc:
        return Answer(outcome=Outcome.UNREACHABLE, error=repr(exc))
    payload = b"".join(chunks)[:MAX_RESPONSE_BYTES]
    if 200 <= status < 300:
        return Answer(outcome=Outcome.ACCEPTED, status=status, body=payload, truncated=truncated)
    outcome = Outcome.UNREACHABLE if status in RETRYABLE else Outcome.REFUSED
    return Answer(outcome=outcome, status=status, body=payload, error=f"HTTP {status}")
