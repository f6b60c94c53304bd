"""Syslog connections: unix datagram, UDP, TCP and TLS over non-blocking sockets.

Every operation that may have to wait (connecting, the TLS handshake, sending) is written once,
as a generator that yields ``("r", sock)`` or ``("w", sock)`` when the socket is not ready, and is
driven either
by the event loop (`drive`, which waits with ``anyio.wait_readable`` / ``wait_writable``,
so nothing blocks the loop) or by ``select`` (`drive_sync`, for the exit fallback, where
there is no loop). Both drivers give up at a deadline.

Sending reports exactly how far it got. A datagram leaves whole or not at all, so a failed send
says which message did not leave. A stream send knows which bytes the kernel (or the TLS layer)
accepted, so a failure says which messages surely left, which may have left in part, and from
which one on nothing left: the caller can send the rest again without sending anything twice.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import select
import socket
import ssl
import time
from collections.abc import Generator, Sequence
from typing import Literal, TypeVar

import anyio

__all__ = [
    "Connection",
    "Endpoint",
    "PeerState",
    "SendError",
    "drive",
    "drive_sync",
]

Want = Literal["r", "w"]
Steps = Generator[tuple[Want, socket.socket], None, None]
"""A wait-capable operation: yields what to wait for on which socket, until it returns."""
PeerState = Literal["open", "closed", "reset"]
R = TypeVar("R")
TLS_CHUNK = 16384
"""Largest plaintext handed to the TLS layer at once: one TLS record."""


class SendError(Exception):
    """Sending stopped early.

    Messages ``[start, sent)`` left; ``[sent, unsure)`` may have left in part or whole (a
    stream cut in the middle of them); from ``unsure`` on, nothing left. ``__cause__`` (also
    [`error`][telemetry.error]) is the socket error or a `TimeoutError`.
    """

    def __init__(self, sent: int, unsure: int, error: BaseException) -> None:
        super().__init__(f"send failed after {sent} messages: {error!r}")
        self.sent = sent
        self.unsure = unsure
        self.error = error


async def _wait(sock: socket.socket, want: Want, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the syslog receiver did not get ready in time")
    with anyio.fail_after(remaining):
        if want == "r":
            await anyio.wait_readable(sock)
        else:
            await anyio.wait_writable(sock)


def _wait_sync(sock: socket.socket, want: Want, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        rl, wl = ([sock], []) if want == "r" else ([], [sock])
        ready = select.select(rl, wl, [], remaining)
        if ready[0] or ready[1]:
            return
    raise TimeoutError("the syslog receiver did not get ready in time")


async def drive(steps: Generator[tuple[Want, socket.socket], None, R], deadline: float) -> R:
    """Run ``steps`` on the event loop and return what it returns; a timeout is thrown into
    the generator (which may turn it into a result or an error)."""
    try:
        want, sock = next(steps)
        while True:
            try:
                await _wait(sock, want, deadline)
            except TimeoutError as exc:
                want, sock = steps.throw(exc)
            else:
                want, sock = next(steps)
    except StopIteration as stop:
        result: R = stop.value
        return result
    finally:
        steps.close()


def drive_sync(steps: Generator[tuple[Want, socket.socket], None, R], deadline: float) -> R:
    """Run ``steps`` on the calling thread, waiting with ``select``."""
    try:
        want, sock = next(steps)
        while True:
            try:
                _wait_sync(sock, want, deadline)
            except TimeoutError as exc:
                want, sock = steps.throw(exc)
            else:
                want, sock = next(steps)
    except StopIteration as stop:
        result: R = stop.value
        return result
    finally:
        steps.close()


class Endpoint:
    """Where a connection goes: a unix socket path, or a host and port (with TLS or not)."""

    def __init__(
        self,
        transport: Literal["unix", "udp", "tcp"],
        address: str,
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        self.transport = transport
        self.address = address
        self.port = port
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.stream = transport == "tcp"

    def __str__(self) -> str:
        if self.transport == "unix":
            return f"unix:{self.address}"
        scheme = "tls" if self.ssl_context is not None else self.transport
        return f"{scheme}://{self.address}:{self.port}"

    def resolve_sync(self) -> list[tuple[int, tuple[object, ...]]]:
        """Addresses for the host, resolved on the calling thread."""
        kind = socket.SOCK_STREAM if self.stream else socket.SOCK_DGRAM
        infos = socket.getaddrinfo(self.address, self.port, type=kind)
        return [(family, addr) for family, _, _, _, addr in infos]

    async def resolve(self) -> list[tuple[int, tuple[object, ...]]]:
        """Addresses for the host, resolved without blocking the loop."""
        kind = socket.SOCK_STREAM if self.stream else socket.SOCK_DGRAM
        infos = await anyio.getaddrinfo(self.address, self.port, type=kind)
        return [(family, addr) for family, _, _, _, addr in infos]

    def connect_steps(
        self, addrs: list[tuple[int, tuple[object, ...]]], out: list[Connection]
    ) -> Steps:
        """Connect (and for TLS, shake hands), appending the connection to ``out``."""
        if self.transport == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.connect(self.address)  # a unix datagram connect never waits
            except BaseException:
                sock.close()
                raise
            out.append(Connection(sock, stream=False))
            return
        error: BaseException = OSError(errno.EADDRNOTAVAIL, f"no address for {self}")
        for family, addr in addrs:
            kind = socket.SOCK_STREAM if self.stream else socket.SOCK_DGRAM
            sock = socket.socket(family, kind)
            done = False
            try:
                sock.setblocking(False)
                if self.stream:
                    code = sock.connect_ex(addr)
                    if code in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
                        yield "w", sock
                        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code:
                        raise OSError(code, f"connect to {self}: {errno.errorcode.get(code)}")
                    if self.ssl_context is not None:
                        sock = self.ssl_context.wrap_socket(
                            sock,
                            server_hostname=self.server_hostname or self.address,
                            do_handshake_on_connect=False,
                        )
                        yield from _handshake(sock)
                else:
                    sock.connect(addr)  # UDP: no packet is sent, nothing to wait for
                done = True
            except OSError as exc:
                error = exc
                continue
            finally:
                if not done:
                    sock.close()
            out.append(Connection(sock, stream=self.stream, tls=self.ssl_context is not None))
            return
        raise error


def _handshake(sock: ssl.SSLSocket) -> Steps:
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            yield "r", sock
        except ssl.SSLWantWriteError:
            yield "w", sock


class Connection:
    """One connected, non-blocking socket and how to send messages through it."""

    def __init__(self, sock: socket.socket, *, stream: bool, tls: bool = False) -> None:
        self.sock = sock
        self.stream = stream
        self.tls = tls
        self.broken = False
        """A send was interrupted in the middle of a message: the stream is out of step."""
        self.oversize = 0
        """Datagrams the kernel refused as too large (``EMSGSIZE``) and that were skipped."""

    def peer_state(self) -> PeerState:
        """For a stream, whether the receiver closed it (``closed``: cleanly, everything sent
        before was read; ``reset``: it went away with data unread). Datagrams are ``open``."""
        if self.broken:
            return "reset"
        if not self.stream:
            return "open"
        try:
            data = self.sock.recv(4096)  # a syslog receiver never sends: b"" is its close
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return "open"
        except OSError:
            return "reset"
        return "open" if data else "closed"

    def send_steps(self, msgs: Sequence[bytes], start: int) -> Steps:
        """Send ``msgs[start:]``; raises `SendError` with the progress made."""
        if self.stream:
            return self._stream_steps(msgs, start)
        return self._datagram_steps(msgs, start)

    def _datagram_steps(self, msgs: Sequence[bytes], start: int) -> Steps:
        send = self.sock.send
        i, n = start, len(msgs)
        while i < n:
            try:
                send(msgs[i])
            except BlockingIOError:
                try:
                    yield "w", self.sock
                except TimeoutError as exc:
                    raise SendError(i, i, exc) from exc
                continue
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    self.oversize += 1
                    i += 1
                    continue
                raise SendError(i, i, exc) from exc
            i += 1

    def _stream_steps(self, msgs: Sequence[bytes], start: int) -> Steps:
        data = b"".join(msgs[start:]) if start or len(msgs) != 1 else msgs[0]
        ends: list[int] = []
        total = 0
        for m in msgs[start:]:
            total += len(m)
            ends.append(total)
        view = memoryview(data)
        chunk = TLS_CHUNK if self.tls else total
        sent = 0
        try:
            while sent < total:
                try:
                    sent += self.sock.send(view[sent : sent + chunk])
                except (BlockingIOError, ssl.SSLWantWriteError):
                    yield "w", self.sock
                except ssl.SSLWantReadError:
                    yield "r", self.sock
        except (OSError, TimeoutError) as exc:
            # Plain TCP: the failed call took nothing. TLS: the record being written may
            # have gone out in part.
            unsure_end = min(total, sent + chunk) if self.tls else sent
            done = bisect.bisect_right(ends, sent)
            first_unsent = bisect.bisect_left([0, *ends[:-1]], unsure_end)
            if first_unsent < done:
                first_unsent = done
            self.broken = True
            raise SendError(start + done, start + first_unsent, exc) from exc
        except BaseException:  # cancelled mid-send: a partial frame may be on the wire
            if sent < total:
                self.broken = True
            raise
        finally:
            view.release()

    def goodbye_steps(self) -> Generator[tuple[Want, socket.socket], None, PeerState]:
        """End a stream gracefully and learn whether the receiver read everything.

        Says goodbye to a TLS peer (close_notify, and waits for its own), shuts the sending
        side, and waits for the receiver to close its side: a receiver reads to the end before
        it sees the end, so a clean close means it read every byte (``closed``), a reset that
        it did not (``reset``). Some receivers (rsyslog's TLS input) drop what they have not
        processed yet when a connection simply vanishes, so this is also what makes the last
        messages of a connection arrive.
        """
        if not self.stream or self.broken:
            return "open"
        sock = self.sock
        try:
            if self.tls and isinstance(sock, ssl.SSLSocket):
                while True:
                    try:
                        sock.unwrap()
                        break
                    except ssl.SSLWantReadError:
                        yield "r", sock
                    except ssl.SSLWantWriteError:
                        yield "w", sock
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                        return "closed"
            sock.shutdown(socket.SHUT_WR)
            while True:
                try:
                    if not sock.recv(4096):
                        return "closed"
                except BlockingIOError:
                    yield "r", sock
        except OSError:  # including TimeoutError thrown in by the driver
            return "reset"

    def close(self) -> None:
        """Close the socket at once (`goodbye_steps` first for a graceful end)."""
        with contextlib.suppress(OSError):
            self.sock.close()
