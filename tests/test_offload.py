"""Blocking work where the interpreter refuses new threads (Python 3.12 and later refuse them
to ``atexit`` handlers, where a hub may close): it runs in place, and a warning is still
written. On 3.12, ``tests/test_sync.py::test_a_process_that_never_leaves_the_block_still_writes``
meets the refusal for real; here it is made on any version."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio.to_thread
import pytest

from telemetry._offload import off_loop
from telemetry._warn import Warner
from telemetry.sinks._writer import WriterThread

REFUSAL = "can't create new thread at interpreter shutdown"


def _refuse_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    def start(self: threading.Thread) -> None:
        raise RuntimeError(REFUSAL)

    monkeypatch.setattr(threading.Thread, "start", start)


async def test_off_loop_runs_in_place_when_no_thread_may_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The function runs on the calling thread and its result comes back."""

    async def refused(*args: object, **kw: object) -> object:
        raise RuntimeError(REFUSAL)

    monkeypatch.setattr(anyio.to_thread, "run_sync", refused)
    here = threading.get_ident()
    assert await off_loop(lambda a, b: (a + b, threading.get_ident()), 2, 3) == (5, here)


async def test_off_loop_lets_other_errors_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """A RuntimeError of the function itself is raised, and the function is not run again."""
    calls = []

    def fails() -> None:
        calls.append(1)
        raise RuntimeError("its own")

    with pytest.raises(RuntimeError, match="its own"):
        await off_loop(fails)
    assert calls == [1]


async def test_a_writer_thread_that_cannot_start_writes_in_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The file and console sinks' writer thread: the bytes are written all the same."""
    out = tmp_path / "out"
    with out.open("ab", buffering=0) as f:
        writer = WriterThread(f.write, name="t")
        _refuse_threads(monkeypatch)
        await writer.write(b"one\n")
        await writer.write(b"two\n")
    assert out.read_bytes() == b"one\ntwo\n"


async def test_a_warning_is_written_when_its_thread_cannot_start(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """From the loop, a warning goes to a writer thread; refused one, it is written here."""
    _refuse_threads(monkeypatch)
    warnings = Warner()
    assert warnings.warn("k", "the sink failed")
    assert warnings.wait_written(1.0)
    assert "aiotelemetry: the sink failed" in capfd.readouterr().err
