"""A real rsyslogd as the receiver of syslog tests, and the fixtures that start it.

:class:`Rsyslog` runs ``rsyslogd -n -f CONF -i PIDFILE`` on loopback ports and unix sockets of
its own, in a temporary directory (its work directory too): it never touches ``/dev/log`` or
``/var/log``, and loads no kernel or journal input. Each input has its own ruleset that writes
what rsyslog parsed (PRI, facility, severity, version, hostname, app-name, procid, msgid,
structured data, msg) as one JSON object per line to ``<input>.jsonl``, which the tests read
back. Inputs: ``udp``, ``tcp``, ``tls`` (imtcp with the ossl driver, when installed), ``unix``
(the special parser for the syslog(3) format, as on ``/dev/log``) and ``unix5424`` (the
regular parser chain, for RFC 5424 datagrams on a unix socket).

Without rsyslogd the fixtures call ``require`` (skip locally, fail under CI).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

__all__ = [
    "Rsyslog",
    "have_tls",
    "make_certificates",
    "rsyslog_fixture",
    "rsyslog_fresh_fixture",
]

RSYSLOGD = shutil.which("rsyslogd") or (
    "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None
)
OPENSSL = shutil.which("openssl")
INPUTS = ("udp", "tcp", "tls", "unix", "unix5424")
#: How long to wait for rsyslog to start, or to write what it received.
WAIT_S = 15.0

_TEMPLATE = """
template(name="parsed" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timestamp" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
"""


def have_tls() -> bool:
    """Whether rsyslog's OpenSSL stream driver and the openssl command are installed."""
    return OPENSSL is not None and bool(glob.glob("/usr/lib/*/rsyslog/lmnsd_ossl.so"))


def make_certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with openssl.

    Both carry the extensions a strict verifier asks for (Python 3.13's default context sets
    ``VERIFY_X509_STRICT``, which refuses a CA without key usage): the CA's basic constraints
    and key usage, the server's key usage, extended key usage (server and client, so it also
    serves as a client certificate), names and key identifiers."""
    assert OPENSSL is not None
    files = {name: folder / name for name in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem")}
    ext = folder / "srv.cnf"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(files["ca.key"]), "-out", str(files["ca.pem"]))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(files["srv.key"]), "-out", str(files["srv.csr"]))  # fmt: skip
    run("x509", "-req", "-in", str(files["srv.csr"]), "-CA", str(files["ca.pem"]),
        "-CAkey", str(files["ca.key"]), "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", str(files["srv.pem"]))  # fmt: skip
    return files


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Rsyslog:
    """One rsyslogd, its configuration, ports, sockets and output files, in ``folder``."""

    def __init__(
        self,
        folder: Path,
        *,
        tls: bool,
        max_message_size: str | None = "256k",
        udp_rcvbuf: int | None = 8 * 1024 * 1024,
    ) -> None:
        """``max_message_size`` is rsyslog's ``maxMessageSize``; ``None`` keeps its default
        (8 KiB), the one a receiver configured by nobody has. ``udp_rcvbuf`` is the UDP input's
        socket buffer; ``None`` leaves the kernel's default. Without rsyslogd, the test that
        builds one is skipped (failed under CI), like the fixtures' tests."""
        _need_rsyslog()
        self.max_message_size = max_message_size
        self.udp_rcvbuf = udp_rcvbuf
        self.folder = folder
        self.work = folder / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.udp_port = _free_port(socket.SOCK_DGRAM)
        self.tcp_port = _free_port(socket.SOCK_STREAM)
        self.tls_port = _free_port(socket.SOCK_STREAM) if tls else 0
        self.unix_path = str(folder / "log.sock")
        self.unix5424_path = str(folder / "log5424.sock")
        self.certs = make_certificates(folder) if tls else {}
        self.conf = folder / "rsyslog.conf"
        self.pidfile = folder / "rsyslogd.pid"
        self.conf.write_text(self._config())
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def out(self, name: str) -> Path:
        """The JSON-lines file of input ``name``."""
        return self.folder / f"{name}.jsonl"

    def _config(self) -> str:
        tls_global = ""
        tls_input = ""
        if self.certs:
            tls_global = (
                f'defaultNetstreamDriverCAFile="{self.certs["ca.pem"]}" '
                f'defaultNetstreamDriverCertFile="{self.certs["srv.pem"]}" '
                f'defaultNetstreamDriverKeyFile="{self.certs["srv.key"]}"'
            )
            tls_input = (
                f'input(type="imtcp" address="127.0.0.1" port="{self.tls_port}" ruleset="tls" '
                'streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")'
            )
        rulesets = "\n".join(
            f'ruleset(name="{n}") {{ action(type="omfile" file="{self.out(n)}" '
            'template="parsed") }'
            for n in INPUTS
        )
        size = self.max_message_size
        max_size = f'maxMessageSize="{size}"' if size is not None else ""
        rcvbuf = f'rcvbufSize="{self.udp_rcvbuf}"' if self.udp_rcvbuf is not None else ""
        # main_queue: on SIGTERM rsyslog gives its queue 1.5 s to drain, then discards the rest;
        # on a busy machine a test that stops it mid-stream saw several writes vanish after a
        # clean close. Ten seconds lets it write everything it has read, as a receiver should.
        return f"""
global(workDirectory="{self.work}" {max_size} net.enableDNS="off" {tls_global})
main_queue(queue.timeoutShutdown="10000" queue.timeoutActionCompletion="10000")
module(load="imudp")
module(load="imtcp" maxSessions="200")
module(load="imuxsock" sysSock.use="off")
{_TEMPLATE}
{rulesets}
input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="udp" {rcvbuf})
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="tcp")
{tls_input}
input(type="imuxsock" socket="{self.unix_path}" ruleset="unix" rateLimit.interval="0")
input(type="imuxsock" socket="{self.unix5424_path}" ruleset="unix5424" rateLimit.interval="0"
      ignoreTimestamp="off" useSpecialParser="off" parseHostname="on")
"""

    # -- process ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start rsyslogd and return once every input takes messages."""
        assert RSYSLOGD is not None
        assert self.proc is None
        log = open(self.folder / f"rsyslogd-{self.starts}.log", "wb")  # noqa: SIM115
        with log:
            self.proc = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + WAIT_S
        probe = f"probe{self.starts}"
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"rsyslogd exited with {self.proc.returncode}")
                ports = [self.tcp_port] + ([self.tls_port] if self.tls_port else [])
                ready = all(_accepts(p) for p in ports) and all(
                    os.path.exists(p) for p in (self.unix_path, self.unix5424_path)
                )
                if ready:
                    udp.sendto(
                        f"<14>1 - - {probe} - - - ready".encode(), ("127.0.0.1", self.udp_port)
                    )
                    if any(r["app"] == probe for r in self.records("udp")):
                        return
                time.sleep(0.05)
        finally:
            udp.close()
        raise RuntimeError("rsyslogd did not get ready")

    def stop(self) -> None:
        """Stop rsyslogd (SIGTERM, then SIGKILL) and wait for it to exit."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def pause(self) -> None:
        """Freeze rsyslogd (SIGSTOP): it keeps its sockets but reads nothing."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen rsyslogd run again (SIGCONT)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    # -- output -------------------------------------------------------------------------------

    def records(self, name: str, app: str | None = None) -> list[dict[str, Any]]:
        """What rsyslog wrote for input ``name`` so far (only ``app``'s messages if given)."""
        path = self.out(name)
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            if not line.endswith("}"):
                continue  # a line still being written
            rec = json.loads(line)
            if app is None or rec["app"] == app:
                out.append(rec)
        return out

    def wait_records(
        self,
        name: str,
        app: str,
        count: int,
        *,
        settle: float = 0.3,
        until: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` messages of ``app`` arrived (or ``until`` says so, or nothing
        more comes), then a little longer, so that a test also sees messages beyond what it
        expects."""
        deadline = time.monotonic() + WAIT_S
        seen, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            records = self.records(name, app)
            n = len(records)
            if n != seen:
                seen, last_change = n, time.monotonic()
            done = n >= count or (until is not None and until(records))
            if done and time.monotonic() - last_change >= settle:
                break
            if n < count and time.monotonic() - last_change > 3.0:
                break  # nothing new for a while: what is missing will not come
            time.sleep(0.05)
        return self.records(name, app)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the throwaway CA."""
        return ssl.create_default_context(cafile=str(self.certs["ca.pem"]))


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _need_rsyslog() -> None:
    require(RSYSLOGD is not None, "rsyslogd is not installed (apt-get install -y rsyslog)")


@pytest.fixture(scope="module", name="rsyslog")
def rsyslog_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    """One rsyslogd shared by a test module (each test uses an app-name of its own)."""
    _need_rsyslog()
    server = Rsyslog(tmp_path_factory.mktemp("rsyslog"), tls=have_tls())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="rsyslog_fresh")
def rsyslog_fresh_fixture(tmp_path: Path) -> Iterator[Rsyslog]:
    """An rsyslogd of the test's own, which the test may stop and start again."""
    _need_rsyslog()
    server = Rsyslog(tmp_path / "rsyslog", tls=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- throughput: python -m tests.sinks.rsyslog [N] ---------------------------------------------


async def _throughput(rs: Rsyslog, transport: str, n: int) -> tuple[float, float, int]:
    """Send ``n`` signals over ``transport`` through a hub (blocking mode); return signals/s
    handed to the socket, signals/s until rsyslog wrote them all, and how many arrived."""
    import asyncio
    import uuid

    from telemetry import Telemetry
    from telemetry.sinks import SyslogSink

    app = f"b{uuid.uuid4().hex[:8]}"
    if transport == "unix":
        sink = SyslogSink(rs.unix_path, app_name=app)
    elif transport == "tls":
        port = rs.tls_port
        sink = SyslogSink("127.0.0.1", transport="tcp", port=port, ca_file=rs.certs["ca.pem"],
                          app_name=app)  # fmt: skip
    else:
        port = rs.udp_port if transport == "udp" else rs.tcp_port
        sink = SyslogSink("127.0.0.1", transport=transport, port=port, app_name=app)  # type: ignore[arg-type]
    handlers = {"syslog": {"sink": sink, "mode": "blocking"}}
    t0 = time.perf_counter()
    async with Telemetry(handlers=handlers) as hub:
        for i in range(n):
            await hub.log("info", "user joined", room="lobby", seq=i)
    sent = time.perf_counter() - t0
    needle = f'"app":"{app}"'.encode()
    got, deadline = 0, time.monotonic() + WAIT_S
    while got < n and time.monotonic() < deadline:
        got = rs.out(transport).read_bytes().count(needle)
        await asyncio.sleep(0.01)
    done = time.perf_counter() - t0
    return n / sent, n / done, got


def main(n: int) -> None:
    """Print the throughput of SyslogSink to a local rsyslogd over each transport."""
    import asyncio
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rs = Rsyslog(Path(tmp), tls=have_tls())
        rs.start()
        try:
            for transport in ("udp", "tcp", "tls", "unix"):
                if transport == "tls" and not rs.tls_port:
                    continue
                sent, done, got = asyncio.run(_throughput(rs, transport, n))
                print(
                    f"{transport:5} {n} signals: {sent:9,.0f}/s sent, "
                    f"{done:9,.0f}/s written by rsyslog, {got} arrived"
                )
        finally:
            rs.stop()


if __name__ == "__main__":
    import sys

    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
