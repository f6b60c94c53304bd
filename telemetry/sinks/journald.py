"""A sink that writes signals to the systemd journal, speaking journald's native protocol.

No libsystemd and no python-systemd: entries are encoded here and sent as datagrams on a
non-blocking unix socket driven by the event loop, so the journal never stalls the app. Every
signal becomes one journal entry with searchable fields, and nothing is lost quietly: what
journald would silently discard (a badly named field, an entry with too many fields) is fixed or
counted before it is sent.

Configuration, copy-paste:

```python
import telemetry as tel
from telemetry.sinks import JournaldSink

journal = JournaldSink(
    identifier="myapp",                      # SYSLOG_IDENTIFIER, for journalctl -t myapp
    message_ids={"user.login": "4f1c2b0a9d8e4c7f8a6b5d4c3b2a1f0e"},  # MESSAGE_ID per signal id
    # namespace="myapp",                     # /run/systemd/journal.myapp/socket
    # missing_ok=True,                       # no journald (a container): count and drop
)
async with tel.Telemetry(handlers={"journal": journal}):
    await tel.event("user.login", user="ada", http={"status": 200})
```

Checking that it arrived:

```sh
journalctl -t myapp -o json-pretty -n 5
journalctl -t myapp TELEMETRY_ID=user.login USER=ada -o json-pretty
journalctl --namespace=myapp -o json-pretty     # when a namespace is used
```

What an entry holds:

- ``MESSAGE`` (the signal's message, else its id, else its kind), ``PRIORITY`` (the level's
  syslog severity), ``SYSLOG_IDENTIFIER``, ``CODE_FILE`` / ``CODE_LINE`` / ``CODE_FUNC`` (where
  the signal was made), ``MESSAGE_ID`` (from ``message_ids``), ``TID`` (when the signal's
  ``thread`` is a numeric thread id).
- The signal's own fields as ``TELEMETRY_KIND``, ``TELEMETRY_LEVEL``, ``TELEMETRY_UID``,
  ``TELEMETRY_INST`` (nanoseconds since the epoch: journald stamps entries when it receives
  them), ``TELEMETRY_ID``, ``TELEMETRY_NS``, ``TELEMETRY_TRACE_ID``, ``TELEMETRY_SPAN_ID``,
  ``TELEMETRY_PARENT_ID``, ``TELEMETRY_DURATION_NS``, ``TELEMETRY_SAMPLE``,
  ``TELEMETRY_THREAD``, ``TELEMETRY_TASK``, and for errors ``TELEMETRY_ERROR_TYPE``,
  ``TELEMETRY_ERROR_MESSAGE`` and ``TELEMETRY_ERROR_TRACEBACK``. Host and pid are journald's
  own trusted ``_HOSTNAME`` and ``_PID``.
- ``data`` then ``ctx``, flattened: ``http={"status": 200}`` becomes ``HTTP_STATUS=200``.
  Strings are sent as they are, bytes as binary, anything else as JSON (``true``, ``3``,
  ``[1,2]``). Keys become valid journal field names (``[A-Z][A-Z0-9_]{0,63}``): upper-cased,
  accents dropped (``café`` -> ``CAFE``), other characters to ``_``, leading underscores
  stripped, ``DATA_`` / ``CTX_`` put in front of a leading digit, names over 64 characters
  cut to 55 plus ``_`` and 8 hex digits of a hash. A name already taken (by the sink's own
  fields, or an earlier key) gets ``_2``, ``_3``, ... in order. A key with no letter or digit
  (``"日本"``, ``""``) cannot be named: the field is left out and counted in
  ``counters["invalid_fields"]``. journald refuses whole entries of 1024 fields or more, so
  fields past `MAX_FIELDS` are left out and counted in ``counters["excess_fields"]`` (once
  the entry is full, one for each item left of a mapping, a nested one too).
  Data keys may set well-known journal fields on purpose (``errno=2`` is ``ERRNO=2``), but
  not those journald's tools treat as facts about the entry (`PROTECTED`: ``UNIT``,
  ``USER_UNIT``, ``OBJECT_*``, ``COREDUMP_*``, ``SYSLOG_*``, ...): keys often come from
  request data, and ``unit="x.service"`` would file the entry under ``journalctl -u
  x.service``. Such a key is written under ``DATA_`` (or ``CTX_``): ``DATA_UNIT``. Name the
  fields your code sets on purpose in ``allow_fields=("UNIT",)`` to write them as they are.

Transport: a value with a newline or a NUL byte, and every bytes value, uses the protocol's
length-prefixed binary form; the rest ``KEY=VALUE``. An entry over ``max_datagram`` bytes
(256 KiB), or one the kernel refuses as a datagram (``EMSGSIZE`` / ``ENOBUFS``), goes through a
sealed memfd passed over the socket (``counters["memfd"]``), as libsystemd does (one over
1 MiB is written into its memfd in a worker thread, part by part); entries over
`MAX_ENTRY_SIZE` (32 MiB) are counted as dropped (``journald_too_large``). When journald's
queue is full the worker waits for room on the loop (``counters["waits"]``), up to
``send_timeout`` (5 s) per entry: in blocking mode that slows the emitting tasks down instead of
losing entries.

Failures: with no journald socket ``open()`` raises [`SinkError`][telemetry.SinkError] naming the
path, unless ``missing_ok=True``, when signals are counted as dropped (``journald_missing``)
and the sink keeps trying to connect on each batch. If journald goes away during a run the sink
reconnects at once (``counters["reconnects"]``); if that fails, or journald accepts nothing for
``send_timeout``, the write raises inside the pipeline and the handler retries: a retried batch
resumes after the entries already sent. When the handler gives up the batch is counted as
``sink_error``, entries of it that did get through included (the count errs towards loss);
with ``missing_ok=True`` only the unsent rest is counted, as ``journald_missing``. The app
never sees an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import select
import socket
import sys
import time
import uuid
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Never

import anyio.lowlevel

from .._errors import ConfigError, SinkError
from .._offload import off_loop
from .._signal import Signal
from .._warn import warn
from ._base import Sink
from ._checks import check_int, check_positive
from ._journal import (
    FIELD_NAME_MAX,
    MAX_FIELDS,
    PROTECTED,
    PROTECTED_PREFIXES,
    RESERVED,
    HugeList,
    JournalEncoder,
    field_name,
    format_traceback,
)

__all__ = [
    "DEFAULT_MAX_DATAGRAM",
    "DEFAULT_SEND_TIMEOUT_S",
    "DEFAULT_SNDBUF",
    "DEFAULT_SOCKET_PATH",
    "FIELD_NAME_MAX",
    "MAX_ENTRY_SIZE",
    "MAX_FIELDS",
    "PROTECTED",
    "PROTECTED_PREFIXES",
    "RESERVED",
    "JournalEncoder",
    "JournaldSink",
    "field_name",
    "format_traceback",
    "namespace_socket",
]

DEFAULT_SOCKET_PATH = "/run/systemd/journal/socket"
"""journald's native socket outside any namespace."""
DEFAULT_MAX_DATAGRAM = 256 * 1024
"""Entries larger than this go through a memfd without trying a datagram first: a datagram this big
needs one large kernel allocation, which can fail (ENOBUFS) when memory is fragmented."""
#: An entry over this many bytes has its memfd filled in a worker thread (one hop per such
#: entry): writing 10 MB into a memfd takes about 5 ms.
_MEMFD_IN_THREAD = 1024 * 1024
#: The JSON of a long list is written this long at most per step of the loop.
PIECES_STEP_S = 0.002
DEFAULT_SNDBUF = 8 * 1024 * 1024
"""Send buffer asked for, as libsystemd does (the kernel caps it at twice ``wmem_max``)."""
DEFAULT_SEND_TIMEOUT_S = 5.0
"""How long one entry may wait for journald to make room before the write fails."""
MAX_ENTRY_SIZE = 32 * 1024 * 1024
"""Entries over this size are counted as dropped (``journald_too_large``) instead of being sent:
current journald refuses larger entries from unprivileged senders."""

_NAMESPACE_MAX = 64
_NAMESPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:")
# Linux only; looked up with getattr so that importing telemetry.sinks works elsewhere too
# (there is no journald there, and open() says so).
_SEAL_ALL = sum(
    getattr(fcntl, name, 0)
    for name in ("F_SEAL_SEAL", "F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_WRITE")
)
_GONE = frozenset(
    {errno.ENOENT, errno.ECONNREFUSED, errno.ENOTCONN, errno.EDESTADDRREQ, errno.ENOTDIR}
)
"""Errors meaning nobody is listening on the path (any more)."""
_TOO_BIG = frozenset({errno.EMSGSIZE, errno.ENOBUFS})
"""Errors meaning the entry is too big for a datagram."""


def namespace_socket(namespace: str) -> str:
    """The native socket of a journal namespace: ``/run/systemd/journal.NAMESPACE/socket``."""
    return f"/run/systemd/journal.{namespace}/socket"


class _Gone(Exception):
    """journald is not listening on the path."""


def _socket_path(path: str | os.PathLike[str] | None, namespace: str | None) -> str:
    """The socket to send to: ``path``, or the namespace's, or journald's default."""
    if namespace is None:
        return os.fspath(path) if path is not None else DEFAULT_SOCKET_PATH
    if path is not None:
        raise ConfigError("namespace", "cannot be given together with path")
    if (
        not isinstance(namespace, str)
        or not 0 < len(namespace) <= _NAMESPACE_MAX
        or not _NAMESPACE_CHARS.issuperset(namespace)
    ):
        raise ConfigError(
            "namespace",
            f"must be 1 to {_NAMESPACE_MAX} characters of A-Z a-z 0-9 _ - :, got {namespace!r}",
        )
    return namespace_socket(namespace)


def _check_allow_fields(allow_fields: Iterable[str]) -> frozenset[str]:
    if isinstance(allow_fields, str) or not all(
        isinstance(f, str) and field_name(f) == f for f in allow_fields
    ):
        raise ConfigError(
            "allow_fields",
            "must be journal field names (A-Z, 0-9, _, not starting with _ or a digit), "
            f"for example ('UNIT',); got {allow_fields!r}",
        )
    return frozenset(allow_fields)


def _default_identifier() -> str:
    argv0 = sys.argv[0] if sys.argv else ""
    name = os.path.basename(argv0)
    return name if name and name != "-c" else "python"


def _message_id(sig_id: object, value: object) -> str:
    try:
        if isinstance(value, uuid.UUID):
            return value.hex
        if not isinstance(value, str):
            raise TypeError
        return uuid.UUID(value).hex
    except (TypeError, ValueError):
        raise ConfigError(
            "message_ids",
            f"must map signal ids to 128-bit ids (32 hex digits or a uuid.UUID); "
            f"got {value!r} for {sig_id!r}",
        ) from None


def _sealed_memfd(data: bytes | Sequence[bytes]) -> int:
    """A memfd holding ``data`` (or its parts, one after the other), sealed against any
    change, as journald wants it."""
    fd = os.memfd_create("journal-entry", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        for part in [data] if isinstance(data, bytes) else data:
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEAL_ALL)
    except BaseException:
        os.close(fd)
        raise
    return fd


class JournaldSink(Sink):
    """Write signals to systemd-journald over its native protocol (see the module docstring).

    Args:
        path: The native socket (default ``/run/systemd/journal/socket``).
        namespace: A journal namespace ``"NAME"``, instead of ``path``: the socket
            ``/run/systemd/journal.NAME/socket``.
        identifier: The ``SYSLOG_IDENTIFIER`` of every entry (default: the program's name,
            from ``sys.argv[0]``), for ``journalctl -t``.
        message_ids: Signal ids mapped to ``MESSAGE_ID`` values (32 hex digits or a
            ``uuid.UUID``).
        missing_ok: Whether a missing journald is counted and dropped
            (``journald_missing``) instead of failing at open.
        max_datagram: Entries larger than this many bytes go through a sealed memfd.
        sndbuf: The socket's send buffer, in bytes.
        send_timeout: How long one entry waits for room in journald's queue (seconds), or
            ``None`` for no bound.
        allow_fields: Journal fields that data and context may set as they are, such as
            ``("UNIT",)``, though journald's tools read them as facts about the entry.
        **unknown: No other option is taken: one raises a
            [`ConfigError`][telemetry.ConfigError] naming the options there are.

    Raises:
        ConfigError: An option has a value it does not take.

    Attributes:
        path (str): The socket the sink sends to.
        allow_fields (frozenset[str]): The fields data and context may set as they are.
    """

    kind = "journald"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        namespace: str | None = None,
        identifier: str | None = None,
        message_ids: Mapping[str, str | uuid.UUID] | None = None,
        missing_ok: bool = False,
        max_datagram: int = DEFAULT_MAX_DATAGRAM,
        sndbuf: int = DEFAULT_SNDBUF,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT_S,
        allow_fields: Iterable[str] = (),
        **unknown: Never,
    ) -> None:
        super().__init__()
        self._reject_unknown(unknown)
        self.path = _socket_path(path, namespace)
        self.namespace = namespace
        if identifier is None:
            identifier = _default_identifier()
        elif not isinstance(identifier, str) or not identifier:
            raise ConfigError("identifier", f"must be a non-empty string, got {identifier!r}")
        self.identifier = identifier
        if message_ids is not None and not isinstance(message_ids, Mapping):
            raise ConfigError("message_ids", f"must be a mapping, got {message_ids!r}")
        self.message_ids = {str(k): _message_id(k, v) for k, v in (message_ids or {}).items()}
        self.max_datagram = check_int("max_datagram", max_datagram, 1)
        self.sndbuf = check_int("sndbuf", sndbuf, 1)
        self.send_timeout = (
            None
            if send_timeout is None
            else check_positive("send_timeout", send_timeout, none_ok=True)
        )
        self.missing_ok = bool(missing_ok)
        self.allow_fields = _check_allow_fields(allow_fields)
        self.encoder = JournalEncoder(
            identifier=identifier,
            message_ids=self.message_ids,
            counters=self.counters,
            allow_fields=self.allow_fields,
        )
        self._sock: socket.socket | None = None
        # A batch that failed part-way, and how much of it journald already has: the handler
        # retries the very same batch object, which then resumes instead of sending twice.
        self._resume: tuple[Sequence[Signal], int] | None = None

    # -- connecting ---------------------------------------------------------------------------

    def _connect(self) -> socket.socket:
        """A non-blocking datagram socket connected to journald; raises `_Gone`."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # a smaller buffer only means waiting sooner
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            # Connected rather than sendto(): the kernel then wakes a writer when journald's
            # queue has room, so waiting for "writable" is exact instead of a busy loop.
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            if exc.errno in _GONE:
                raise _Gone(f"no journald listening at {self.path!r}: {exc.strerror}") from exc
            raise SinkError(f"cannot connect to journald at {self.path!r}: {exc}") from exc
        return sock

    def _socket(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            sock = self._sock = self._connect()
            if self.state == "open":
                self.counters["reconnects"] += 1
        return sock

    def _drop_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    async def _open(self) -> None:
        try:
            self._sock = self._connect()
        except _Gone as exc:
            if not self.missing_ok:
                hint = (
                    f" (is systemd-journald@{self.namespace} running?)"
                    if self.namespace
                    else " (is systemd-journald running?)"
                )
                raise SinkError(
                    f"{exc}{hint}; pass missing_ok=True to count and drop signals instead"
                ) from exc.__cause__
            warn(
                f"journald-missing:{self.path}",
                f"journald sink: {exc}; signals are counted as dropped (journald_missing)",
            )

    # -- sending ------------------------------------------------------------------------------

    def _deliver(
        self, data: bytes, made: int | None = None
    ) -> Generator[socket.socket, None, None]:
        """Send one entry (through ``made``, a memfd of it already filled and owned by the
        caller, if given); yields the socket each time it must wait for room.

        Raises `_Gone` when journald is not there even after one reconnect, and
        [`SinkError`][telemetry.SinkError] for anything else.
        """
        fd = made
        reconnected = False
        try:
            while True:
                sock = self._socket()
                try:
                    if fd is None and len(data) <= self.max_datagram:
                        sock.send(data)
                    else:
                        if fd is None:
                            fd = _sealed_memfd(data)
                        socket.send_fds(sock, [], [fd])
                        self.counters["memfd"] += 1
                    return
                except BlockingIOError:
                    self.counters["waits"] += 1
                    yield sock
                except OSError as exc:
                    if fd is None and exc.errno in _TOO_BIG:
                        fd = _sealed_memfd(data)
                    elif exc.errno in _GONE and not reconnected:
                        reconnected = True
                        self._drop_socket()
                    elif exc.errno in _GONE:
                        self._drop_socket()
                        raise _Gone(f"journald at {self.path!r} went away: {exc}") from exc
                    else:
                        raise SinkError(f"journald at {self.path!r}: {exc}") from exc
        except OSError as exc:  # memfd_create or its write failed
            raise SinkError(f"journald sink: cannot pass a large entry: {exc}") from exc
        finally:
            if fd is not None and made is None:
                os.close(fd)

    async def _memfd(self, parts: list[bytes]) -> int:
        """A sealed memfd of a large entry's parts, filled in a worker thread."""
        try:
            return await off_loop(_sealed_memfd, parts)
        except OSError as exc:
            raise SinkError(f"journald sink: cannot pass a large entry: {exc}") from exc

    async def _wait_writable(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if fd < 0:  # another worker replaced the socket meanwhile: just try again
            return
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_writer(fd, _set_ready, ready)
        try:
            async with asyncio.timeout(self.send_timeout):
                await ready
        except TimeoutError:
            raise SinkError(
                f"journald at {self.path!r} accepted nothing for {self.send_timeout} s"
            ) from None
        finally:
            loop.remove_writer(fd)

    def _poll_writable(self, sock: socket.socket) -> None:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT)
        timeout_ms = None if self.send_timeout is None else int(self.send_timeout * 1000)
        if not poller.poll(timeout_ms):
            raise SinkError(f"journald at {self.path!r} accepted nothing for {self.send_timeout} s")

    def _start(self, batch: Sequence[Signal]) -> int:
        """Where to start ``batch``: past what an earlier failed attempt already sent."""
        resume = self._resume
        if resume is not None and resume[0] is batch:
            self._resume = None
            return resume[1]
        return 0

    def _encode(self, sig: Signal) -> bytes | None:
        entry = self._encode_parts(sig)
        return None if entry is None else b"".join(entry[0])

    def _encode_parts(self, sig: Signal) -> tuple[list[bytes], int] | None:
        """The entry's parts and its size; ``None`` (counted) for one too large."""
        return self._sized(self.encoder.encode_parts(sig))

    async def _encode_paced(self, parts: list[bytes | HugeList]) -> tuple[list[bytes], int] | None:
        """`_encode_parts` of an entry with a long list, letting the loop run between the
        pieces of its JSON whenever a step has had `PIECES_STEP_S`."""
        pieces = self.encoder.resolve(parts)
        t0 = time.perf_counter()
        while True:
            try:
                next(pieces)
            except StopIteration as stop:
                return self._sized(stop.value)
            if time.perf_counter() - t0 > PIECES_STEP_S:
                await anyio.lowlevel.checkpoint()
                t0 = time.perf_counter()

    def _sized(self, parts: list[bytes]) -> tuple[list[bytes], int] | None:
        size = sum(map(len, parts))
        if size > MAX_ENTRY_SIZE:
            self.count_drop("journald_too_large")
            return None
        return parts, size

    def _gone(self, batch: Sequence[Signal], i: int, exc: _Gone) -> None:
        if self.missing_ok:
            self.count_drop("journald_missing", len(batch) - i)
            return
        self._resume = (batch, i)
        raise SinkError(str(exc)) from exc

    def _send_now(self, data: bytes) -> bool:
        """The common case in one system call: a datagram that fits, journald has room."""
        sock = self._sock
        if sock is None or len(data) > self.max_datagram:
            return False
        try:
            sock.send(data)
        except OSError:
            return False  # _deliver() tries again and sorts out why
        return True

    async def write(self, batch: Sequence[Signal]) -> None:
        """Send each signal of the batch as one journal entry, waiting on the loop whenever
        journald's queue is full.

        Args:
            batch: The signals to send, in order.

        Raises:
            SinkError: journald is not there or accepted nothing for ``send_timeout``; a
                retry of the same batch resumes after the entries already sent.
        """
        if self.state != "open":
            raise SinkError("journald sink is not open")
        pos = self._start(batch)
        try:
            while pos < len(batch):
                parts = self.encoder.entry_parts(batch[pos])
                if len(parts) == 1 or not any(type(part) is HugeList for part in parts):
                    entry = self._sized(parts)  # type: ignore[arg-type]
                else:
                    entry = await self._encode_paced(parts)
                if entry is not None:
                    await self._send(*entry)
                pos += 1
        except _Gone as exc:
            self._gone(batch, pos, exc)
        except BaseException:
            self._resume = (batch, pos)
            raise

    async def _send(self, parts: list[bytes], size: int) -> None:
        """Send one entry, waiting on the loop for room; a large one is written into its
        memfd in a worker thread, without being joined first."""
        made = None
        if size > _MEMFD_IN_THREAD:
            data = b""
            made = await self._memfd(parts)
        else:
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            if self._send_now(data):
                return
        try:
            with contextlib.closing(self._deliver(data, made)) as steps:
                for sock in steps:
                    await self._wait_writable(sock)
        finally:
            if made is not None:
                os.close(made)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Send the batch with blocking waits (exit fallback, synchronous mode).

        Args:
            batch: The signals to send, in order.
        """
        if self.state != "open":
            raise SinkError("journald sink is not open")
        pos = self._start(batch)
        try:
            while pos < len(batch):
                data = self._encode(batch[pos])
                if data is not None and not self._send_now(data):
                    with contextlib.closing(self._deliver(data)) as steps:
                        for sock in steps:
                            self._poll_writable(sock)
                pos += 1
        except _Gone as exc:
            self._gone(batch, pos, exc)
        except BaseException:
            self._resume = (batch, pos)
            raise

    # -- closing ------------------------------------------------------------------------------

    async def _aclose(self) -> None:
        self._resume = None
        self._drop_socket()

    def close_sync(self) -> None:
        """Close the socket without a loop (exit fallback). Idempotent."""
        self.state = "closed"
        self._resume = None
        self._drop_socket()

    def after_fork(self) -> None:
        """In a forked child: forget the parent's socket; the next write connects anew."""
        self._resume = None
        # Closing the child's copy leaves the parent's socket (and its loop) untouched.
        self._drop_socket()

    def __repr__(self) -> str:
        return f"<JournaldSink {self.path!r} {self.state}>"


def _set_ready(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
