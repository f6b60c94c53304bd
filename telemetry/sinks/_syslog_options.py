"""The syslog sink's options: their defaults, and the checks its constructor runs.

Each check raises the [`ConfigError`][telemetry.ConfigError] that names the parameter, what was
given and what is allowed; options that depend on the transport get its default here.
"""

from __future__ import annotations

import enum
import os
import ssl
import sys
from typing import Literal

from .._errors import ConfigError

__all__ = [
    "DEFAULT",
    "DEFAULT_PORT",
    "DEFAULT_SOCKET_PATH",
    "DEFAULT_TCP_MAX_MESSAGE",
    "DEFAULT_TLS_PORT",
    "DEFAULT_UDP_MAX_MESSAGE",
    "DEFAULT_UNIX_MAX_MESSAGE",
    "MAX_DATAGRAM",
    "MIN_MESSAGE",
    "SYSLOG_FORMATS",
    "TRANSPORTS",
    "NotGiven",
    "SyslogFormat",
    "Transport",
    "check_address",
    "check_max_message_size",
    "check_port",
    "check_tls_options",
    "program_name",
]

Transport = Literal["unix", "udp", "tcp"]
SyslogFormat = Literal["rfc5424", "rfc3164"]
TRANSPORTS = ("tcp", "udp", "unix")
SYSLOG_FORMATS = ("rfc3164", "rfc5424")

DEFAULT_SOCKET_PATH = "/dev/log"
"""The local syslog socket."""
DEFAULT_PORT = 514
"""Syslog over UDP (RFC 5426) and, by custom, plain TCP."""
DEFAULT_TLS_PORT = 6514
"""Syslog over TLS (RFC 5425)."""
DEFAULT_UDP_MAX_MESSAGE = 2048
"""Every syslog receiver SHOULD take UDP messages up to 2048 octets (RFC 5426 section 3.2)."""
DEFAULT_UNIX_MAX_MESSAGE = 8192
"""rsyslog's default maxMessageSize; journald takes more."""
DEFAULT_TCP_MAX_MESSAGE = 8096
"""The longest message rsyslog takes over TCP with its default settings (maxMessageSize 8 KiB keeps
8096 bytes of a frame, as measured with rsyslog 8.2302); syslog-ng's default (64 KiB) takes it
too. A receiver that gets a longer frame cuts it and reads the rest as records of their own,
forged ones included: the sink must never send more than the receiver takes."""
MAX_DATAGRAM = 65507
"""The largest UDP payload over IPv4."""
MIN_MESSAGE = 480
"""Smallest message every receiver must accept (RFC 5424 section 6.1)."""
_UNIX_PATH_MAX = 107


class NotGiven(enum.Enum):
    """Marks an option the caller did not give (where ``None`` means something)."""

    TOKEN = enum.auto()


DEFAULT = NotGiven.TOKEN


def program_name() -> str:
    """The program's name from ``sys.argv[0]``, as an APP-NAME may hold it."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    clean = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name)
    # "-" (a script on stdin), "-c": no name to speak of.
    return clean[:48] if clean[:1].isalnum() else "python"


def check_tls_options(
    transport: str,
    tls: object,
    ca_file: object,
    ssl_context: object,
    server_hostname: object,
) -> None:
    """Refuse TLS options without TCP, and TLS options that contradict each other."""
    given = {
        "tls": bool(tls),
        "ca_file": ca_file is not None,
        "ssl_context": ssl_context is not None,
        "server_hostname": server_hostname is not None,
    }
    if transport != "tcp":
        for param, on in given.items():
            if on:
                raise ConfigError(
                    param, f"needs transport='tcp' (TLS runs over TCP), got {transport!r}"
                )
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise ConfigError("ssl_context", f"must be an ssl.SSLContext, got {ssl_context!r}")
    if ssl_context is not None and ca_file is not None:
        raise ConfigError("ca_file", "cannot be combined with ssl_context; load it there")
    if server_hostname is not None and not (tls or ca_file or ssl_context):
        raise ConfigError("server_hostname", "needs TLS (tls=True, ca_file or ssl_context)")
    if server_hostname is not None and (
        not isinstance(server_hostname, str) or not server_hostname
    ):
        raise ConfigError("server_hostname", f"must be a host name, got {server_hostname!r}")


def check_address(transport: str, address: object) -> str:
    """The socket path (unix) or host (UDP, TCP) to send to, default filled in."""
    if transport == "unix":
        if address is None:
            return DEFAULT_SOCKET_PATH
        if not isinstance(address, (str, os.PathLike)) or not os.fspath(address):
            raise ConfigError("address", f"must be a socket path, got {address!r}")
        path = os.fspath(address)
        if not isinstance(path, str) or len(path.encode()) > _UNIX_PATH_MAX:
            raise ConfigError("address", f"must be a socket path of at most {_UNIX_PATH_MAX} bytes")
        return path
    if address is None:
        return "localhost"
    if not isinstance(address, str) or not address or any(c.isspace() for c in address):
        raise ConfigError("address", f"must be a host name or IP address, got {address!r}")
    return address


def check_port(transport: str, tls: bool, port: object) -> int:
    """The receiver's port (0 for the unix socket), default filled in."""
    if transport == "unix":
        if port is not None:
            raise ConfigError("port", "is for transport 'udp' or 'tcp', not 'unix'")
        return 0
    if port is None:
        return DEFAULT_TLS_PORT if tls else DEFAULT_PORT
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError("port", f"must be an integer from 1 to 65535, got {port!r}")
    return port


def check_max_message_size(transport: str, value: object) -> int | None:
    """The longest message in bytes (``None``: no bound, over TCP only), default filled in."""
    datagram = transport != "tcp"
    if value is DEFAULT:
        if transport == "udp":
            return DEFAULT_UDP_MAX_MESSAGE
        return DEFAULT_UNIX_MAX_MESSAGE if datagram else DEFAULT_TCP_MAX_MESSAGE
    if value is None:
        return MAX_DATAGRAM if datagram else None
    top = MAX_DATAGRAM if datagram else sys.maxsize
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_MESSAGE <= value <= top:
        bound = f"from {MIN_MESSAGE} to {MAX_DATAGRAM}" if datagram else f">= {MIN_MESSAGE}"
        raise ConfigError(
            "max_message_size", f"must be an integer {bound} (bytes) or None, got {value!r}"
        )
    return value
