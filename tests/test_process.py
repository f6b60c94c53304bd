"""Process-level behaviour: the exit fallback and forked children."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_script(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def test_exit_fallback_writes_what_an_unclosed_hub_holds(tmp_path: Path) -> None:
    """A process that ends without aclose() still writes its queued signals at exit."""
    result = run_script(
        """
        import asyncio
        from telemetry import Telemetry
        from telemetry.sinks import FileSink

        hub = Telemetry(handlers={"file": {"sink": FileSink("out.jsonl"), "buffer_size": 5000}})
        loop = asyncio.new_event_loop()
        loop.run_until_complete(hub.open())
        for i in range(3000):
            hub.log_nowait("info", "queued", i=i)
        # the loop is abandoned with everything still queued: no aclose(), no worker turn
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["data"]["i"] for line in lines] == list(range(3000))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reopens_the_hub_in_its_own_loop(tmp_path: Path) -> None:
    """A worker forked while the hub is open starts with empty queues and zero counts, opens
    the hub in its own loop and writes with its own pid; the parent writes what it queued."""
    result = run_script(
        """
        import asyncio, json, os
        from telemetry import Telemetry
        from telemetry.sinks import FileSink

        hub = Telemetry(handlers={"f": {"sink": FileSink("out.jsonl"), "buffer_size": 5000}})

        async def child() -> int:
            stats = hub.stats().handlers["f"]
            assert (hub.state, stats.queued, stats.emitted) == ("new", 0, 0), stats
            async with hub:  # the worker's lifespan
                for i in range(10):
                    await hub.log("info", "child", i=i)
            return 0 if hub.stats().handlers["f"].written == 10 else 3

        async def parent():
            async with hub:
                for i in range(100):
                    hub.log_nowait("info", "parent", i=i)
                pid = os.fork()
                if pid == 0:
                    os._exit(asyncio.new_event_loop().run_until_complete(child()))
                _, status = await asyncio.to_thread(os.waitpid, pid, 0)
                assert os.waitstatus_to_exitcode(status) == 0, status
            print(json.dumps({"parent": os.getpid(), "child": pid}))

        asyncio.run(parent())
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    pids = json.loads(result.stdout)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    parent = [r for r in records if r["msg"] == "parent"]
    child = [r for r in records if r["msg"] == "child"]
    assert [r["data"]["i"] for r in parent] == list(range(100))
    assert {r["pid"] for r in parent} == {pids["parent"]}
    assert [r["data"]["i"] for r in child] == list(range(10))
    assert {r["pid"] for r in child} == {pids["child"]}


def test_a_thread_never_hangs_when_the_loop_has_stopped(tmp_path: Path) -> None:
    """Threads emitting to a blocking handler of a hub whose loop stopped without aclose() do
    not wait forever: they return, and the exit fallback writes what they handed over."""
    result = run_script(
        """
        import asyncio, threading
        from telemetry import Telemetry
        from telemetry.sinks import FileSink

        hub = Telemetry(handlers={"f": {"sink": FileSink("out.jsonl"), "mode": "blocking",
                                        "buffer_size": 8}})
        loop = asyncio.new_event_loop()
        loop.run_until_complete(hub.open())
        # the loop no longer runs: nothing drains the inbox while the thread floods it
        t = threading.Thread(target=lambda: [hub.log_nowait("info", "x", i=i)
                                             for i in range(20_000)])
        t.start()
        t.join(timeout=20)
        assert not t.is_alive(), "the thread hung"
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["data"]["i"] for line in lines] == list(range(20_000))
