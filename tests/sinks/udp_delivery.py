"""UDP delivery to a real rsyslogd: aiotelemetry's SyslogSink next to the standard library's
``logging.handlers.SysLogHandler``, in the same run, against the same receiver.

UDP has no acknowledgement: a datagram the receiver's socket buffer cannot take is lost, and
the sender never knows. What this measures is how many of a burst arrive.

Run: ``python -m tests.sinks.udp_delivery [N] [ROUNDS] [RCVBUF]`` (defaults 2000, 5, 212992:
rsyslog's socket buffer left at the kernel's default, as on a stock system).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

from telemetry import Telemetry
from telemetry.sinks import SyslogSink
from tests.sinks.rsyslog import WAIT_S, Rsyslog

#: rsyslog's UDP socket buffer in these runs: the kernel's default (net.core.rmem_default).
DEFAULT_RCVBUF = 212992


def datagrams_that_fit(rx: socket.socket, size: int) -> int:
    """How many datagrams of ``size`` bytes the bound socket ``rx`` holds unread. The kernel
    may grant less buffer than asked (``net.core.rmem_max``: 212,992 bytes on a stock kernel)
    and charges each datagram more than its payload, so this is measured: more datagrams than
    could fit are sent to it, and what it kept is counted (and read, leaving it empty)."""
    granted = rx.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for _ in range(granted // size + 1):  # more than fit: each costs more than its size
            tx.sendto(b"p" * size, rx.getsockname())
    kept = 0
    blocking = rx.getblocking()
    rx.setblocking(False)
    try:
        with contextlib.suppress(BlockingIOError):
            while rx.recv(65536):
                kept += 1
    finally:
        rx.setblocking(blocking)
    assert 0 < kept <= granted // size
    return kept


def count(rs: Rsyslog, marker: str, n: int) -> int:
    """How many messages carrying ``marker`` rsyslog wrote, once nothing more comes."""
    needle = marker.encode()
    deadline = time.monotonic() + WAIT_S
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        path = rs.out("udp")
        got = path.read_bytes().count(needle) if path.exists() else 0
        if got != last:
            last, since = got, time.monotonic()
        if got >= n or time.monotonic() - since > 1.0:
            return got
        time.sleep(0.05)
    return last


def stdlib_burst(rs: Rsyslog, n: int) -> int:
    """``n`` records through SysLogHandler to rsyslog's UDP input; how many arrived."""
    marker = f"s{uuid.uuid4().hex[:10]}"
    logger = logging.getLogger(f"udp-delivery-{marker}")
    logger.propagate = False
    handler = logging.handlers.SysLogHandler(address=("127.0.0.1", rs.udp_port))
    handler.setFormatter(logging.Formatter(f"{marker}: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for i in range(n):
            logger.info("user joined room=lobby seq=%d", i)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return count(rs, marker, n)


async def _ours(rs: Rsyslog, n: int, app: str) -> None:
    sink = SyslogSink("127.0.0.1", transport="udp", port=rs.udp_port, app_name=app)
    async with Telemetry(handlers={"syslog": {"sink": sink, "mode": "blocking"}}) as hub:
        for i in range(n):
            await hub.log("info", "user joined", room="lobby", seq=i)


def ours_burst(rs: Rsyslog, n: int) -> int:
    """``n`` signals through a hub with a UDP SyslogSink to rsyslog; how many arrived."""
    app = f"a{uuid.uuid4().hex[:10]}"
    asyncio.run(_ours(rs, n, app))
    return count(rs, f'"app":"{app}"', n)


def main(n: int, rounds: int, rcvbuf: int) -> None:
    """Print, round by round, what arrived of each burst."""
    with tempfile.TemporaryDirectory() as tmp:
        rs = Rsyslog(Path(tmp), tls=False, udp_rcvbuf=rcvbuf)
        rs.start()
        try:
            print(f"{n} datagrams per burst to rsyslogd (UDP, rcvbuf {rcvbuf}), {rounds} rounds")
            totals = {"stdlib": 0, "aiotelemetry": 0}
            for r in range(rounds):
                s = stdlib_burst(rs, n)
                a = ours_burst(rs, n)
                totals["stdlib"] += s
                totals["aiotelemetry"] += a
                print(f"round {r + 1}: stdlib SysLogHandler {s:5}/{n}   aiotelemetry {a:5}/{n}")
            for name, total in totals.items():
                print(f"{name:>22}: {total}/{n * rounds} ({100 * total / (n * rounds):.1f} %)")
        finally:
            rs.stop()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [2000, 5, DEFAULT_RCVBUF][len(args) :]))
