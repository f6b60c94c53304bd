"""A real systemd-journald for the journald sink's tests, and a reader for what it stored.

The ``journald`` fixture (session-scoped; import ``journald_fixture`` to use it) runs
``/lib/systemd/systemd-journald NAMESPACE`` standalone, as root, in a fresh random namespace: it
needs no systemd as PID 1, only ``/etc/machine-id`` (made with ``systemd-machine-id-setup`` when
missing, and removed again afterwards). The namespace's own
``/etc/systemd/journald@NAMESPACE.conf`` turns rate limiting and forwarding off and keeps the
journal in ``/run/log/journal``; the fixture checks that journald read it (the size limit it sets
shows up in journald's own start-up message). At the end the daemon is stopped and every file of
the namespace is removed.

Entries are read back with ``journalctl --namespace=NAMESPACE -o json --all``; each test filters
on a field of its own (a unique ``SYSLOG_IDENTIFIER``) so that tests never see each other's
entries.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import require

JOURNALD = "/lib/systemd/systemd-journald"
JOURNALCTL = shutil.which("journalctl") or "/usr/bin/journalctl"
MACHINE_ID = Path("/etc/machine-id")
#: Folders journald creates for a volatile journal; removed afterwards if they were not there.
RUNTIME_DIRS = ("/run/log", "/run/log/journal")
#: journald's message id for "Runtime/System Journal (...) is X, max Y, Z free."
USAGE_MESSAGE_ID = "ec387f577b844b8fa948f33cad9a75e6"
#: An unusual size limit: seeing it in journald's start-up message proves the config was read.
RUNTIME_MAX_USE = "257M"
START_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 20.0

CONFIG = f"""\
[Journal]
Storage=volatile
RuntimeMaxUse={RUNTIME_MAX_USE}
RateLimitIntervalSec=0
RateLimitBurst=0
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
MaxLevelStore=debug
"""

Entry = dict[str, Any]


def value(entry: Entry, name: str) -> str | bytes:
    """A field as journalctl gives it: text, or bytes for binary values (which journalctl
    writes as arrays of byte numbers)."""
    raw = entry[name]
    if isinstance(raw, list):
        return bytes(raw)
    assert isinstance(raw, str), f"{name}: {raw!r}"
    return raw


class Journal:
    """A journald namespace: its daemon (started and stopped by :meth:`start` / :meth:`stop`)
    and what it stored."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.socket = f"/run/systemd/journal.{namespace}/socket"
        self.config = Path(f"/etc/systemd/journald@{namespace}.conf")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the daemon and wait until it listens and has read its configuration."""
        self.config.write_text(CONFIG)
        with contextlib.suppress(FileNotFoundError):  # a stale socket would look ready
            os.unlink(self.socket)
        started_before = len(self.entries(f"MESSAGE_ID={USAGE_MESSAGE_ID}", check=False))
        proc = self._proc = subprocess.Popen(
            [JOURNALD, self.namespace], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"systemd-journald exited with {proc.returncode}: {err}")
            if os.path.exists(self.socket):
                usage = self.entries(f"MESSAGE_ID={USAGE_MESSAGE_ID}", check=False)
                if len(usage) > started_before:
                    # journald's "Runtime Journal (...) is 8.0M, max 257.0M, ..." shows that
                    # it read the namespace's configuration (and so its rate limit too).
                    message = usage[-1]["MESSAGE"]
                    assert f"max {RUNTIME_MAX_USE[:-1]}.0M" in message, (
                        f"journald did not read {self.config}: {message!r}"
                    )
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"systemd-journald did not start within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Stop the daemon (SIGTERM, then SIGKILL after 10 s); its journal files stay."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def _command(self, matches: tuple[str, ...], fields: str | None) -> list[str]:
        cmd = [JOURNALCTL, f"--namespace={self.namespace}", "-o", "json", "--all", "--no-pager"]
        if fields:
            cmd.append(f"--output-fields={fields}")
        return [*cmd, *matches]

    def entries(self, *matches: str, fields: str | None = None, check: bool = True) -> list[Entry]:
        """Every entry matching ``matches`` (``FIELD=value``), oldest first; ``fields``
        (comma-separated) limits the fields read."""
        proc = subprocess.run(self._command(matches, fields), capture_output=True, check=check)
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    async def aentries(self, *matches: str, fields: str | None = None) -> list[Entry]:
        """:meth:`entries` without blocking the event loop."""
        proc = await anyio.run_process(self._command(matches, fields))
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    async def wait_for(self, count: int, *matches: str, fields: str | None = None) -> list[Entry]:
        """Wait until at least ``count`` entries match (journald stores datagrams
        asynchronously), then return them all; gives up after ``READ_TIMEOUT_S``."""
        deadline = time.monotonic() + READ_TIMEOUT_S
        while True:
            found = await self.aentries(*matches, fields=fields)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await anyio.sleep(0.1)

    def unique(self) -> str:
        """A fresh identifier to tag one test's entries with."""
        return f"aiotelemetry-test-{uuid.uuid4().hex[:12]}"


def _ensure_machine_id() -> bool:
    """journald needs a machine id; make one when missing. True when this made it."""
    if MACHINE_ID.exists() and MACHINE_ID.read_text().strip():
        return False
    setup = shutil.which("systemd-machine-id-setup")
    if setup is not None:
        subprocess.run([setup], check=True, capture_output=True)
    else:
        MACHINE_ID.write_text(uuid.uuid4().hex + "\n")
    return True


def _remove_namespace_files(ns: str) -> None:
    shutil.rmtree(f"/run/systemd/journal.{ns}", ignore_errors=True)
    for pattern in (f"/var/log/journal/*.{ns}", f"/run/log/journal/*.{ns}"):
        for path in glob.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"/etc/systemd/journald@{ns}.conf")


def have_journald() -> tuple[bool, str]:
    """Whether this machine can run a standalone journald, and if not, why."""
    if not os.path.exists(JOURNALD):
        return False, f"{JOURNALD} is not installed (apt-get install systemd)"
    if not os.path.exists(JOURNALCTL):
        return False, "journalctl is not installed (apt-get install systemd)"
    if os.geteuid() != 0:
        return False, "running systemd-journald standalone needs root"
    return True, ""


@contextlib.contextmanager
def running_journald() -> Iterator[Journal]:
    """A standalone journald in a fresh namespace until the block ends; then the daemon is
    stopped and every file of the namespace removed."""
    made_machine_id = _ensure_machine_id()
    made_dirs = [d for d in RUNTIME_DIRS if not os.path.exists(d)]
    journal = Journal(f"aiotelemetry{uuid.uuid4().hex[:10]}")
    try:
        journal.start()
        yield journal
    finally:
        journal.stop()
        _remove_namespace_files(journal.namespace)
        for made in reversed(made_dirs):
            with contextlib.suppress(OSError):  # not empty: someone else uses it now
                os.rmdir(made)
        if made_machine_id:
            MACHINE_ID.unlink(missing_ok=True)


@pytest.fixture(scope="session", name="journald")
def journald_fixture() -> Iterator[Journal]:
    """A standalone systemd-journald in a fresh namespace, for the whole session."""
    ok, reason = have_journald()
    require(ok, reason)
    with running_journald() as journal:
        yield journal
