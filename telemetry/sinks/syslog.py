"""A sink that sends signals to syslog: the local socket, UDP, TCP or TLS.

Copy, paste, adapt:

```python
import telemetry as tel
from telemetry.sinks import SyslogSink

handlers = {
    # The local daemon (journald or rsyslog) through /dev/log, in the format glibc uses:
    "local": SyslogSink(app_name="shop", facility="local0"),
    # A central rsyslog over TLS, RFC 5424 with octet-counting framing (RFC 5425):
    "central": {
        "sink": SyslogSink(
            "logs.example.net",
            transport="tcp",
            ca_file="/etc/ssl/certs/logs-ca.pem",  # port 6514 by default with TLS
            app_name="shop",
            sd_id="shop@32473",  # use your organisation's private enterprise number
        ),
        "mode": "blocking",  # back-pressure rather than drops while the receiver is slow
    },
}
async with tel.Telemetry(handlers=handlers):
    await tel.log("info", "order placed", order=1234, total="12.50")
```

The central receiver gets ``<14>1 2026-08-10T17:15:34.892341Z web1 shop 4711 - [shop@32473
order="1234" total="12.50"] order placed`` (``-`` is the MSGID: an event's id goes there), the
local one ``<134>Aug 10 19:15:34 shop[4711]: order placed order=1234 total=12.50``.

To check what arrives, run a throwaway rsyslog in the foreground that prints what it parsed:

```sh
cat > /tmp/rs.conf <<'EOF'
global(workDirectory="/tmp")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="5514")
input(type="imtcp" address="127.0.0.1" port="5514")
template(name="t" type="string"
         string="%pri% %app-name% %procid% %msgid% %structured-data% %msg%\\n")
*.* action(type="omfile" file="/dev/stdout" template="t")
EOF
rsyslogd -n -f /tmp/rs.conf -i /tmp/rs.pid
```

and point ``SyslogSink("127.0.0.1", transport="tcp", port=5514)`` (or ``"udp"``) at it.

Delivery. Datagrams (unix socket, UDP) are sent one per message; over TCP each message is
framed by octet counting (``LEN SP MSG``, RFC 6587). A message longer than
``max_message_size`` (2048 bytes for UDP, 8192 for the unix socket, 8096 over TCP) is cut at a UTF-8
boundary, ends with ``[truncated]`` and is counted in ``counters["truncated"]``: a receiver
cuts a longer frame itself and reads the rest as new records, which a value could forge.
No message, key or value can carry a record boundary in either framing: control characters
(newline, NUL, ...) are escaped, and the frame length always matches the bytes sent.
UDP has no acknowledgement: a datagram the receiver's socket buffer cannot take is lost, and
neither the sink nor anyone else can know or count it. The sink sends a batch
`UDP_SLICE` datagrams at a time, `UDP_PAUSE_S` apart, so that a burst does not
overrun a receiver on the same host; use TCP when every message must be accounted for.
TCP connects on the first write, and after the receiver goes away it reconnects with a backoff
(doubling up to ``max_backoff``). A write keeps the signals it could not send and tries again
until ``timeout`` seconds have passed; what is still unsent then is dropped and counted as
``unreachable``, and later writes fail fast (one connection attempt per backoff period) until
the receiver is back. Nothing is sent twice: only messages of which no byte left are sent again.
Closing ends the stream and waits (two seconds at most) for the receiver to close its side,
which it does once it has read everything.

Plain syslog over TCP has no acknowledgements, so a receiver that goes away with data unread
loses it. The sink sees the reset and counts the messages of its last write on that connection
(and any message cut in the middle) as ``connection_lost``, a lower bound when the receiver
stopped reading several writes before it went; the reset itself is counted and warned about.
A receiver that reads the last write and then discards it as it stops (rsyslog shutting down
with messages still in its queue) closes cleanly, and nothing on the connection tells: that
loss is not counted, only the ``disconnects``. Use RELP or a local relay when every message must
be confirmed.

Counters: ``connects``, ``connect_errors``, ``disconnects`` (the receiver closed cleanly),
``resets`` (it went away with data unread), ``abandoned`` (a stream given up mid-message),
``truncated``. Drop reasons: ``unreachable``, ``connection_lost``, ``too_large`` (a datagram
the kernel refused).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Sequence
from typing import Literal, Never

import anyio

from .._errors import ConfigError, SinkError
from .._offload import off_loop
from .._signal import Signal
from .._warn import warn
from ..formats._safe import placeholder_signal, repair_signal
from ._base import Sink
from ._checks import check_choice, check_positive
from ._syslog_format import (
    DEFAULT_SD_ID,
    FACILITIES,
    TRUNCATION_MARK,
    Rfc3164Formatter,
    Rfc5424Formatter,
    check_name,
    check_sd_id,
    facility_number,
)
from ._syslog_io import Connection, Endpoint, PeerState, SendError, drive, drive_sync
from ._syslog_options import (
    DEFAULT,
    DEFAULT_PORT,
    DEFAULT_SOCKET_PATH,
    DEFAULT_TCP_MAX_MESSAGE,
    DEFAULT_TLS_PORT,
    DEFAULT_UDP_MAX_MESSAGE,
    DEFAULT_UNIX_MAX_MESSAGE,
    SYSLOG_FORMATS,
    TRANSPORTS,
    NotGiven,
    SyslogFormat,
    Transport,
    check_address,
    check_max_message_size,
    check_port,
    check_tls_options,
    program_name,
)

__all__ = [
    "DEFAULT_MAX_BACKOFF_S",
    "DEFAULT_PORT",
    "DEFAULT_SD_ID",
    "DEFAULT_SOCKET_PATH",
    "DEFAULT_TCP_MAX_MESSAGE",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_TLS_PORT",
    "DEFAULT_UDP_MAX_MESSAGE",
    "DEFAULT_UNIX_MAX_MESSAGE",
    "FACILITIES",
    "SYSLOG_FORMATS",
    "TRANSPORTS",
    "TRUNCATION_MARK",
    "SyslogSink",
]

DEFAULT_TIMEOUT_S = 5.0
"""How long one write may spend (re)connecting and waiting for the receiver."""
DEFAULT_MAX_BACKOFF_S = 1.0
"""Longest wait between connection attempts."""
INITIAL_BACKOFF_S = 0.05
"""First wait between connection attempts; it doubles after every failure."""
UDP_SLICE = 32
"""UDP datagrams sent back to back before the sink pauses: a receiver on the same host (or behind a
switch) has a socket buffer of a few hundred datagrams, and a burst larger than it can drain is
lost without anyone knowing, since UDP has no acknowledgement. A batch goes out a slice at a
time, `UDP_PAUSE_S` apart, which also lets the receiver's thread run on a busy machine."""
UDP_PAUSE_S = 0.0005
"""The pause between two slices of UDP datagrams."""
SYNC_TIMEOUT_S = 1.0
"""The exit fallback waits at most this long for the receiver."""
CLOSE_TIMEOUT_S = 2.0
"""Closing waits at most this long for the receiver to confirm it read everything."""
_LOST_COUNTER = {"reset": "resets", "closed": "disconnects", "broken": "abandoned"}


class SyslogSink(Sink):
    """Send signals to a syslog receiver.

    In RFC 5424 the signal's ``id`` is the MSGID and its ``ctx`` and ``data`` (and trace ids)
    are the structured data under ``sd_id``. Levels map to severities
    ([`Level.syslog_severity`][telemetry.Level.syslog_severity]). A message longer than
    ``max_message_size`` is cut, ends with ``[truncated]`` and is counted in
    ``counters["truncated"]``. See the module documentation for what happens to the signals
    when the receiver goes away.

    Args:
        address: The socket path for ``transport="unix"`` (default ``/dev/log``), or the host
            for ``"udp"`` and ``"tcp"`` (default ``localhost``).
        transport: ``"unix"``, ``"udp"`` or ``"tcp"``.
        port: The receiver's port for UDP and TCP: 514, or 6514 with TLS.
        format: ``"rfc5424"``, or ``"rfc3164"`` (the glibc form journald and rsyslog parse on
            the unix socket); by default ``"rfc3164"`` for the unix socket and ``"rfc5424"``
            otherwise.
        facility: A name (``"local0"``) or number.
        app_name: The APP-NAME (the TAG in RFC 3164); by default the program's name.
        hostname: The HOSTNAME field; by default the signal's host.
        sd_id: The SD-ID the signal's context and data are sent under (RFC 5424).
        bom: Whether an RFC 5424 message that is not plain ASCII starts with the UTF-8 byte
            order mark the RFC asks for (``False`` for receivers that keep it in the text).
        max_message_size: The most bytes of one message, before TCP framing: by default 2048
            for UDP, 8192 for the unix socket, 8096 over TCP (what rsyslog takes by default);
            ``None`` lifts the bound over TCP, for receivers configured to take more.
        tls: Whether the TCP connection uses TLS, with the system's CA certificates.
        ca_file: A PEM file of CA certificates to trust (TLS with these).
        ssl_context: An ``ssl.SSLContext`` of your own (TLS with it).
        server_hostname: The name the receiver's certificate must carry, when not
            ``address``.
        timeout: How long a write retries before it gives up (seconds).
        max_backoff: The longest wait between connection attempts (seconds).
        **unknown: No other option is taken: one raises a
            [`ConfigError`][telemetry.ConfigError] naming the options there are.

    Raises:
        ConfigError: An option has a value it does not take, or options contradict each
            other (TLS options without ``transport="tcp"``, ``port`` for the unix socket).
    """

    kind = "syslog"

    def __init__(
        self,
        address: str | os.PathLike[str] | None = None,
        *,
        transport: Transport = "unix",
        port: int | None = None,
        format: SyslogFormat | None = None,
        facility: str | int = "user",
        app_name: str | None = None,
        hostname: str | None = None,
        sd_id: str = DEFAULT_SD_ID,
        bom: bool = True,
        max_message_size: int | NotGiven | None = DEFAULT,
        tls: bool = False,
        ca_file: str | os.PathLike[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_backoff: float = DEFAULT_MAX_BACKOFF_S,
        **unknown: Never,
    ) -> None:
        super().__init__()
        self._reject_unknown(unknown)
        self.transport: Transport = check_choice("transport", transport, TRANSPORTS)
        check_tls_options(transport, tls, ca_file, ssl_context, server_hostname)
        self.tls = bool(tls or ca_file is not None or ssl_context is not None)
        self.address = check_address(transport, address)
        self.port = check_port(transport, self.tls, port)
        if format is None:
            format = "rfc3164" if transport == "unix" else "rfc5424"
        self.format: SyslogFormat = check_choice("format", format, SYSLOG_FORMATS)
        self.facility = facility_number(facility)
        forbidden = "[]:" if format == "rfc3164" else ""
        self.app_name = (
            program_name() if app_name is None else check_name("app_name", app_name, 48, forbidden)
        )
        self.hostname = None if hostname is None else check_name("hostname", hostname, 255)
        self.sd_id = check_sd_id(sd_id)
        self.max_message_size = check_max_message_size(transport, max_message_size)
        self.ca_file = None if ca_file is None else os.fspath(ca_file)
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.timeout = check_positive("timeout", timeout)
        self.max_backoff = check_positive("max_backoff", max_backoff)
        self._formatter = self._make_formatter(bool(bom))
        self._stream = transport == "tcp"
        self._endpoint: Endpoint | None = None
        self._addrs: list[tuple[int, tuple[object, ...]]] = []
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()
        self._busy = False
        self._retry_at = 0.0  # no connection attempt before this monotonic time
        self._backoff = INITIAL_BACKOFF_S
        self._down = False  # a write gave up; fail fast until a connection succeeds
        self._inflight = 0  # signals of the last write on the current stream connection
        self._last_error: BaseException | None = None

    def __repr__(self) -> str:
        where = (
            f"unix:{self.address}"
            if self.transport == "unix"
            else (f"{'tls' if self.tls else self.transport}://{self.address}:{self.port}")
        )
        return f"<SyslogSink {where} {self.format} {self.state}>"

    # -- configuration ------------------------------------------------------------------------

    def _make_formatter(self, bom: bool) -> Rfc5424Formatter | Rfc3164Formatter:
        """The formatter of the sink's ``format``, with its header fields."""
        if self.format == "rfc5424":
            return Rfc5424Formatter(
                facility=self.facility,
                app_name=self.app_name,
                hostname=self.hostname,
                sd_id=self.sd_id,
                bom=bom,
            )
        return Rfc3164Formatter(
            facility=self.facility,
            app_name=self.app_name,
            hostname=self.hostname,
            include_hostname=self.transport != "unix",
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def _open(self) -> None:
        # Lazy: nothing connects here, so an unreachable receiver never fails the app's start.
        # Only the TLS context is built, off the loop, since it reads certificate files.
        context = self.ssl_context
        if self.tls and context is None:
            try:
                context = await off_loop(self._make_context)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    "ca_file", f"must be a readable PEM file of CA certificates: {exc}"
                ) from exc
        self._endpoint = Endpoint(
            self.transport,
            self.address,
            self.port,
            ssl_context=context,
            server_hostname=self.server_hostname,
        )

    def _make_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    async def _aclose(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                deadline = time.monotonic() + min(self.timeout, CLOSE_TIMEOUT_S)
                try:
                    self._said_goodbye(await drive(conn.goodbye_steps(), deadline))
                finally:
                    conn.close()

    def close_sync(self) -> None:
        """Close the connection without a loop (exit fallback)."""
        self.state = "closed"
        conn, self._conn = self._conn, None
        if conn is not None:
            deadline = time.monotonic() + min(self.timeout, SYNC_TIMEOUT_S)
            try:
                self._said_goodbye(drive_sync(conn.goodbye_steps(), deadline))
            finally:
                conn.close()

    def _said_goodbye(self, state: PeerState) -> None:
        if state == "reset":
            self.counters["resets"] += 1
            warn(
                f"syslog-close:{self._endpoint}",
                f"syslog sink: {self._endpoint} did not confirm the end of the stream; "
                f"the last {self._inflight} signals written may be lost",
            )

    def after_fork(self) -> None:
        """In a forked child: let go of the parent's connection without closing it for it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._lock = asyncio.Lock()
        self._busy = False
        self._inflight = 0

    # -- writing ------------------------------------------------------------------------------

    def encode(self, batch: Sequence[Signal]) -> list[bytes]:
        """The batch as messages, one per signal, framed for TCP (``LEN SP MSG``).

        Args:
            batch: The signals to encode.

        Returns:
            One message per signal, each cut to ``max_message_size``.
        """
        fmt, limit = self._formatter.format, self.max_message_size
        out: list[bytes] = []
        truncated = 0
        for sig in batch:
            try:
                msg, cut = fmt(sig, limit)
            except Exception:  # a bad value: it alone is replaced (see formats._safe)
                msg, cut = self._repaired(sig, limit)
            truncated += cut
            out.append(msg)
        if truncated:
            self.counters["truncated"] += truncated
        self.note_repaired(self._formatter)
        if self._stream:
            out = [b"%d %b" % (len(m), m) for m in out]
        return out

    def _repaired(self, sig: Signal, limit: int | None) -> tuple[bytes, bool]:
        self.counters["bad_values"] += 1
        try:
            return self._formatter.format(repair_signal(sig), limit)
        except Exception:
            return self._formatter.format(placeholder_signal(sig), limit)

    async def write(self, batch: Sequence[Signal]) -> None:
        """Encode the batch and send it: one send of the framed batch over TCP, one datagram
        per signal otherwise. What cannot be delivered within ``timeout`` is counted.

        Args:
            batch: The signals to send, in order.
        """
        msgs = self.encode(batch)
        async with self._lock:
            self._busy = True
            try:
                await self._deliver(msgs)
            finally:
                self._busy = False

    async def _deliver(self, msgs: list[bytes]) -> None:
        deadline = time.monotonic() + self.timeout
        i, n = 0, len(msgs)
        while i < n:
            conn = await self._connection(deadline)
            if conn is None:
                break
            # UDP: a slice at a time, with a pause between slices (see UDP_SLICE).
            end = min(n, i + UDP_SLICE) if self.transport == "udp" else n
            steps = conn.send_steps(msgs[:end], i)
            try:
                await drive(steps, deadline)
            except SendError as err:
                i = self._send_failed(err)
                continue
            finally:
                self._take_oversize(conn)
            self._sent(end - i)
            i = end
            if i < n:
                await anyio.sleep(UDP_PAUSE_S)
        if i < n:
            self._give_up(n - i)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Send the batch on the calling thread, waiting at most a second for the receiver
        (the exit fallback, and synchronous mode). One connection attempt, no backoff.

        Args:
            batch: The signals to send, in order.

        Raises:
            SinkError: The sink is not open, or an asynchronous write is under way.
        """
        if self._endpoint is None:
            raise SinkError("syslog sink is not open")
        if self._busy:
            raise SinkError("syslog sink is in the middle of an asynchronous write")
        msgs = self.encode(batch)
        deadline = time.monotonic() + min(self.timeout, SYNC_TIMEOUT_S)
        i, n = 0, len(msgs)
        for _attempt in range(2):
            conn = self._conn
            if conn is not None and self._check_peer(conn) != "open":
                conn = None
            if conn is None:
                try:
                    conn = self._connect_sync(deadline)
                except OSError as exc:
                    self._last_error = exc
                    self.counters["connect_errors"] += 1
                    break
            try:
                drive_sync(conn.send_steps(msgs, i), deadline)
            except SendError as err:
                i = self._send_failed(err)
                continue
            finally:
                self._take_oversize(conn)
            self._sent(n - i)
            i = n
            break
        if i < n:
            self._give_up(n - i)

    # -- connections --------------------------------------------------------------------------

    async def _connection(self, deadline: float) -> Connection | None:
        """The live connection, (re)connecting with backoff; ``None`` when giving up."""
        conn = self._conn
        if conn is not None and self._check_peer(conn) == "open":
            return conn
        assert self._endpoint is not None, "write() before open()"
        while True:
            now = time.monotonic()
            if now < self._retry_at:
                if self._down or self._retry_at >= deadline:
                    return None
                await anyio.sleep(self._retry_at - now)
            try:
                if not self._addrs and self.transport != "unix":
                    self._addrs = await self._endpoint.resolve()
                out: list[Connection] = []
                await drive(self._endpoint.connect_steps(self._addrs, out), deadline)
            except OSError as exc:  # includes TimeoutError and ssl.SSLError
                self._connect_failed(exc)
                if self._down or time.monotonic() >= deadline:
                    return None
                continue
            return self._connected(out[0])

    def _connect_sync(self, deadline: float) -> Connection:
        assert self._endpoint is not None
        if not self._addrs and self.transport != "unix":
            self._addrs = self._endpoint.resolve_sync()
        out: list[Connection] = []
        drive_sync(self._endpoint.connect_steps(self._addrs, out), deadline)
        return self._connected(out[0])

    def _check_peer(self, conn: Connection) -> PeerState:
        """Whether the receiver is still there; a connection it left is dropped."""
        if conn.broken:  # a write was cancelled in the middle of a message
            self._lost("broken")
            return "reset"
        state = conn.peer_state()
        if state == "reset":
            # It went away with data unread: at least the end of the last write, which was
            # sent after the last check found the connection healthy.
            self._reset(self._inflight)
        elif state == "closed":
            self._lost(state)
        return state

    def _reset(self, lost: int) -> None:
        if lost:
            self.count_drop("connection_lost", lost)
        warn(
            f"syslog-reset:{self._endpoint}",
            f"syslog sink: {self._endpoint} reset the connection with data unread; "
            f"{lost} signals of the last write counted as connection_lost",
        )
        self._lost("reset")

    def _lost(self, why: Literal["reset", "closed", "broken"]) -> None:
        # resets: the receiver went away with data unread; disconnects: it closed cleanly
        # (or a datagram socket failed); abandoned: this sink gave up a stalled or cut stream.
        self.counters[_LOST_COUNTER[why]] += 1
        self._drop_connection()
        self._retry_at = 0.0  # reconnect at once; back off only if that fails
        self._backoff = INITIAL_BACKOFF_S

    def _connected(self, conn: Connection) -> Connection:
        self._conn = conn
        self._inflight = 0
        self._down = False
        self._backoff = INITIAL_BACKOFF_S
        self.counters["connects"] += 1
        return conn

    def _connect_failed(self, exc: BaseException) -> None:
        self._last_error = exc
        self.counters["connect_errors"] += 1
        self._addrs = []  # resolve again next time: the receiver may have moved
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self.max_backoff)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self._inflight = 0
        if conn is not None:
            conn.close()

    # -- accounting ---------------------------------------------------------------------------

    def _sent(self, n: int) -> None:
        self._inflight = n if self._stream else 0

    def _send_failed(self, err: SendError) -> int:
        """Account for a send that stopped; return the index to resume from."""
        self._last_error = err.error
        if not self._stream:
            self._lost("closed")  # the datagram that failed did not leave: send it again
            # UDP learns of a closed port only from an ICMP error: if "localhost" resolved
            # to ::1 first and the receiver listens on 127.0.0.1, the next address is right.
            self._addrs = self._addrs[1:] + self._addrs[:1]
        elif isinstance(err.error, TimeoutError):
            self._lost("broken")  # a stalled receiver: give up this connection
        else:
            self._reset(self._inflight)
        if err.unsure > err.sent:
            self.count_drop("connection_lost", err.unsure - err.sent)
        return err.unsure

    def _take_oversize(self, conn: Connection) -> None:
        if conn.oversize:
            self.count_drop("too_large", conn.oversize)
            conn.oversize = 0

    def _give_up(self, n: int) -> None:
        self._down = True
        self.count_drop("unreachable", n)
        target = self._endpoint if self._endpoint is not None else self.address
        warn(
            f"syslog:{target}",
            f"syslog sink: {n} signals dropped, {target} unreachable: {self._last_error!r}",
        )
