"""Synchronous programs: ``with Telemetry(...)`` runs the hub on a loop of its own in a thread."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import telemetry as tel
from telemetry import Telemetry, TelemetryError
from telemetry.sinks import FileSink, MemorySink

from .conftest import assert_accounted
from .test_process import run_script


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "telemetry-loop"]


def test_with_in_a_sync_program_writes_from_every_thread(tmp_path: Path) -> None:
    """No asyncio anywhere: the main thread and worker threads emit with the nowait creators,
    bind, a sync span and @traced; leaving the block writes every signal and stops the loop's
    thread."""
    path = tmp_path / "app.jsonl"

    @tel.traced("double")
    def double(x: int) -> int:
        tel.log_nowait("debug", "doubling", x=x)
        return 2 * x

    def worker(n: int) -> None:
        with tel.bind(worker=n):
            for i in range(100):
                tel.log_nowait("info", "work", i=i)

    with Telemetry(handlers={"file": FileSink(path)}, min_level="debug") as hub:
        assert hub.state == "open"
        assert len(_loop_threads()) == 1
        with tel.bind(job="nightly"), tel.span("batch") as span:
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert double(21) == 42
            hub.event_nowait("batch.done", rows=400)
    assert hub.state == "closed"
    assert _loop_threads() == []
    assert_accounted(hub.stats())
    signals = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(signals) == 400 + 4
    assert hub.stats().handlers["file"].written == 404
    work = [s for s in signals if s.get("msg") == "work"]
    for n in range(4):  # each thread's order is kept
        assert [s["data"]["i"] for s in work if s["ctx"]["worker"] == n] == list(range(100))
    by_id = {s.get("id") or s.get("msg"): s for s in signals}
    assert by_id["batch"]["ctx"] == {"job": "nightly"}
    assert by_id["batch"]["kind"] == "span"
    assert by_id["double"]["parent_id"] == span.span_id
    assert by_id["doubling"]["span_id"] == by_id["double"]["span_id"]
    assert by_id["batch.done"]["trace_id"] == span.trace_id


def test_module_level_creators_reach_the_background_hub() -> None:
    """While the block runs, the hub is the default one: tel.log_nowait() goes to it."""
    sink = MemorySink()
    with Telemetry(handlers={"m": sink}) as hub:
        assert tel.get_hub() is hub
        tel.log_nowait("info", "via the module")
        tel.error_nowait(ValueError("bad"))
    assert tel.get_hub() is not hub
    assert [s.msg for s in sink.signals] == ["via the module", "bad"]


def test_an_exception_leaving_the_block_still_closes_the_hub() -> None:
    """The block's exception propagates unchanged, after everything emitted is written."""
    sink = MemorySink()
    hub = Telemetry(handlers={"m": sink})

    def run() -> None:
        with hub:
            tel.log_nowait("info", "before the failure")
            raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        run()
    assert hub.state == "closed"
    assert [s.msg for s in sink.signals] == ["before the failure"]
    assert_accounted(hub.stats())
    assert _loop_threads() == []


async def test_with_inside_a_running_loop_is_refused() -> None:
    """Inside a running loop the hub belongs on that loop: 'with' says to use 'async with'."""
    hub = Telemetry(handlers={"m": MemorySink()})
    with pytest.raises(TelemetryError, match="async with"), hub:
        pass
    assert hub.state == "new"
    assert _loop_threads() == []


def test_a_sink_that_cannot_open_raises_and_leaves_no_thread(tmp_path: Path) -> None:
    """open() failing in the background raises in the caller's thread; the loop's thread ends."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    hub = Telemetry(handlers={"file": FileSink(blocker / "app.jsonl")})
    with pytest.raises(TelemetryError), hub:
        pass
    assert _loop_threads() == []


def test_a_process_that_never_leaves_the_block_still_writes(tmp_path: Path) -> None:
    """The exit fallback: entered, never left; the interpreter's shutdown closes the hub."""
    result = run_script(
        """
        import threading
        import telemetry as tel
        from telemetry.sinks import FileSink

        tel.Telemetry(handlers={"file": FileSink("out.jsonl")}).__enter__()
        for i in range(3000):
            tel.log_nowait("info", "never left", i=i)
        threading.Thread(target=lambda: tel.log_nowait("info", "thread", i=-1)).start()
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(s["data"]["i"] for s in lines) == [-1, *range(3000)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_children_write_with_their_own_thread(tmp_path: Path) -> None:
    """A child forked inside the block (os.fork, and a multiprocessing 'fork' process, which
    leaves with os._exit) writes its own signals with its own pid; the parent writes its own."""
    result = run_script(
        """
        import multiprocessing, os, sys
        import telemetry as tel
        from telemetry.sinks import FileSink

        def child(name):
            for i in range(200):
                tel.log_nowait("info", name, i=i)

        with tel.Telemetry(handlers={"file": FileSink("out.jsonl")}):
            tel.log_nowait("info", "parent before")
            pid = os.fork()
            if pid == 0:
                child("forked")
                sys.exit(0)  # leaves the with block in the child too
            os.waitpid(pid, 0)
            p = multiprocessing.get_context("fork").Process(target=child, args=("mp",))
            p.start()
            p.join()
            tel.log_nowait("info", "parent after")
        print(os.getpid())
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    parent = int(result.stdout.strip())
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    by_msg: dict[str, list[dict[str, object]]] = {}
    for s in lines:
        by_msg.setdefault(s["msg"], []).append(s)
    assert [s["pid"] for s in by_msg["parent before"]] == [parent]
    assert [s["pid"] for s in by_msg["parent after"]] == [parent]
    for name in ("forked", "mp"):
        assert [s["data"]["i"] for s in by_msg[name]] == list(range(200))
        assert {s["pid"] for s in by_msg[name]} - {parent} == {by_msg[name][0]["pid"]}


def test_the_sync_example_runs_and_writes_its_traceback(tmp_path: Path) -> None:
    """examples/sync_script.py, as a user runs it: every signal in the file, the failed order
    with its traceback, context carried into the pool's threads."""
    script = Path(__file__).resolve().parent.parent / "examples" / "sync_script.py"
    result = run_script(script.read_text(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "file: written=9 dropped=0",
        "console: written=9 dropped=0",
    ]
    lines = (tmp_path / "logs" / "sync_script.jsonl").read_text().splitlines()
    signals = [json.loads(line) for line in lines]
    assert all(s["ctx"]["run"] == "nightly" for s in signals)
    failed = next(s for s in signals if s.get("msg") == "order failed")
    assert failed["level"] == "error"
    assert "ZeroDivisionError: division by zero" in failed["error"]["stacktrace"]
    assert "in order_total" in failed["error"]["stacktrace"]
