"""An OTLP/HTTP receiver on loopback, standing in for an OpenTelemetry Collector (no collector
binary installs on these machines).

It speaks HTTP/1.1 with keep-alive on 127.0.0.1, decodes every request with
``opentelemetry-proto``'s generated classes (``http/protobuf``; ``http/json`` is parsed with
``json_format`` after turning the hex ids back into what that parser expects, so an unknown or
misspelt field fails the test), and answers as a collector does, or as scripted: a status with
headers, a partial success, a refused connection (:meth:`Receiver.stop`), a restart, a slow
reply, a reply that is not HTTP, an endless body, or no reply at all.

Run as a script (``python tests/sinks/otlp_receiver.py PORT``) it serves until killed, printing
``listening PORT`` once ready and ``records N`` on stdin's end (the benchmark uses this).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import ssl
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_REQUEST = {
    "/v1/logs": logs_service_pb2.ExportLogsServiceRequest,
    "/v1/traces": trace_service_pb2.ExportTraceServiceRequest,
    "/v1/metrics": metrics_service_pb2.ExportMetricsServiceRequest,
}
_RESPONSE = {
    "/v1/logs": logs_service_pb2.ExportLogsServiceResponse,
    "/v1/traces": trace_service_pb2.ExportTraceServiceResponse,
    "/v1/metrics": metrics_service_pb2.ExportMetricsServiceResponse,
}
_REJECTED = {
    "/v1/logs": "rejected_log_records",
    "/v1/traces": "rejected_spans",
    "/v1/metrics": "rejected_data_points",
}
_ID_KEYS = ("traceId", "spanId", "parentSpanId")


@dataclass
class Reply:
    """What the receiver does with one request.

    ``action``: ``"reply"`` (``status``, ``headers``, ``body`` or else an OTLP response with
    ``rejected`` records and ``message`` as a partial success), ``"hang"`` (never answer),
    ``"close"`` (close the connection without a word), ``"garbage"`` (bytes that are not HTTP,
    then close), ``"endless"`` (a 200 whose body never ends). ``delay`` seconds pass first.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    rejected: int = 0
    message: str = ""
    action: str = "reply"
    delay: float = 0.0


@dataclass
class Received:
    """One request as it arrived: path, headers, raw body, and the decoded message."""

    path: str
    headers: dict[str, str]
    body: bytes
    message: Any
    json: Any = None
    status: int = 0


def otlp_json_to_proto_json(obj: Any) -> Any:
    """OTLP/JSON -> protobuf's JSON mapping: hex ids become base64 (nothing else differs for
    what the parser accepts: it takes integer enums and integers or strings for 64-bit)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in _ID_KEYS and isinstance(v, str):
                out[k] = base64.b64encode(bytes.fromhex(v)).decode() if v else ""
            else:
                out[k] = otlp_json_to_proto_json(v)
        return out
    if isinstance(obj, list):
        return [otlp_json_to_proto_json(x) for x in obj]
    return obj


def decode(path: str, content_type: str, body: bytes) -> tuple[Any, Any]:
    """The request message (and the raw JSON, for ``http/json``); raises on anything else."""
    cls = _REQUEST[path]
    if content_type == "application/x-protobuf":
        msg = cls()
        msg.ParseFromString(body)
        return msg, None
    if content_type == "application/json":
        raw = json.loads(body)
        msg = json_format.ParseDict(otlp_json_to_proto_json(raw), cls())
        return msg, raw
    raise ValueError(f"unexpected content type {content_type!r}")


class Receiver:
    """The receiver. ``script`` holds the replies for the next requests, in order; once it is
    empty every request is accepted."""

    def __init__(self, port: int = 0, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.ssl_context = ssl_context
        self.script: deque[Reply] = deque()
        #: Every request decoded, whatever the answer.
        self.requests: list[Received] = []
        #: The requests answered with a 2xx.
        self.accepted: list[Received] = []
        self.errors: list[str] = []
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        """The base URL to give a sink."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (on the same port as before, after a :meth:`stop`)."""
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection: a collector that went away. Requests in
        flight get no answer."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._conns):
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(BaseException):
                await t

    async def restart(self) -> None:
        """Stop, then listen again on the same port."""
        await self.stop()
        await self.start()

    # -- what arrived -------------------------------------------------------------------------

    def log_records(self) -> list[Any]:
        """Every log record accepted, in arrival order."""
        return [
            rec
            for r in self.accepted
            if r.path == "/v1/logs"
            for rl in r.message.resource_logs
            for sl in rl.scope_logs
            for rec in sl.log_records
        ]

    def spans(self) -> list[Any]:
        """Every span accepted, in arrival order."""
        return [
            s
            for r in self.accepted
            if r.path == "/v1/traces"
            for rs in r.message.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def metrics(self) -> list[tuple[str, Any]]:
        """Every metric accepted, in arrival order, with the name of its scope."""
        return [
            (sm.scope.name, metric)
            for r in self.accepted
            if r.path == "/v1/metrics"
            for rm in r.message.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        ]

    # -- serving ------------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The connection and the task that serves it are noted at once, not when that task
        # first runs: a stop() in between (a receiver on a busy loop) still closes the
        # connection, rather than leaving it open after the loop has ended.
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._conns.add(writer)
        self._tasks.add(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._handle(method, path, headers, body, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # Stopped (stop() cancels what is waiting, a hung reply say): end quietly, as a
            # server going away does, rather than as a failed task asyncio would report.
            return
        finally:
            self._conns.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.transport.abort()

    async def _handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> bool:
        reply = self.script.popleft() if self.script else Reply()
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        content_type = headers.get("content-type", "")
        try:
            assert method == "POST", method
            message, raw = decode(path, content_type, body)
        except Exception as exc:
            self.errors.append(f"{path}: {exc!r}")
            await self._write(writer, 400, "text/plain", str(exc).encode(), ())
            return True
        received = Received(path, headers, body, message, raw, reply.status)
        self.requests.append(received)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.action == "hang":
            await asyncio.Event().wait()
        if reply.action == "close":
            return False
        if reply.action == "garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.2 this is not HTTP\r\n\r\n")
            await writer.drain()
            return False
        if reply.action == "endless":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\r\n")
            while True:
                writer.write(b"\0" * 65536)
                await writer.drain()
        if 200 <= reply.status < 300:
            self.accepted.append(received)
        out = reply.body
        if out is None:
            resp = _RESPONSE[path]()
            if reply.rejected or reply.message:
                setattr(resp.partial_success, _REJECTED[path], reply.rejected)
                resp.partial_success.error_message = reply.message
            if content_type == "application/json":
                out = json_format.MessageToJson(resp).encode()
            else:
                out = resp.SerializeToString()
        await self._write(writer, reply.status, content_type, out, reply.headers)
        return True

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        content_type: str,
        body: bytes,
        headers: tuple[tuple[str, str], ...],
    ) -> None:
        head = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}"]
        head += [f"{k}: {v}" for k, v in headers]
        head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()


@contextlib.asynccontextmanager
async def receiving(
    port: int = 0, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Receiver]:
    """A started :class:`Receiver` for the block, stopped after it."""
    rx = Receiver(port, ssl_context=ssl_context)
    await rx.start()
    try:
        yield rx
    finally:
        await rx.stop()


@dataclass
class ThreadedReceiver:
    """A :class:`Receiver` on an event loop of its own, in a thread: for clients that block
    (the OpenTelemetry SDK's exporter) or that must not share the loop with it."""

    receiver: Receiver = field(default_factory=Receiver)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def call(self, coro: Any) -> Any:
        """Run ``coro`` on the receiver's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


@contextlib.contextmanager
def receiving_in_thread(port: int = 0) -> Iterator[ThreadedReceiver]:
    """A started receiver on its own loop in a daemon thread, stopped after the block."""
    tr = ThreadedReceiver(Receiver(port))
    thread = threading.Thread(target=tr.loop.run_forever, daemon=True)
    thread.start()
    try:
        tr.call(tr.receiver.start())
        yield tr
    finally:
        tr.call(tr.receiver.stop())
        tr.loop.call_soon_threadsafe(tr.loop.stop)
        thread.join(timeout=10)
        tr.loop.close()


def _main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0

    async def run() -> None:
        rx = Receiver(port)
        await rx.start()
        print(f"listening {rx.port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(f"records {len(rx.log_records()) + len(rx.spans())}", flush=True)
        await rx.stop()

    asyncio.run(run())


if __name__ == "__main__":
    _main()
