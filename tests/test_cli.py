"""The command line, on files written by the real file sink through a hub.

Every log file here is written by ``FileSink`` (a ``MemorySink`` on the same hub records what
was written, to compare with); damage (a rotation's gzip, a corrupted line, a cut-short last
line) is then done to those real files the way it happens in life.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import pty
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import telemetry as tel
from telemetry import Level, Signal
from telemetry.cli import main
from telemetry.cli.demo import run_demo
from telemetry.cli.filters import parse_since
from telemetry.cli.follow import FollowedFile
from telemetry.cli.reader import GZIP_MAGIC, PROBLEMS, LineDecoder, read_records
from telemetry.formats import JsonFormat, TextFormat
from telemetry.sinks import FileSink, MemorySink

from .conftest import assert_accounted

ROOT = Path(__file__).resolve().parents[1]
ROTATED = "app.2026-11-22T10-15-00.123456.jsonl.gz"
TIMEOUT_S = 30.0
TELEMETRY = (sys.executable, "-m", "telemetry")

Emitter = Callable[[], Awaitable[None]]


async def write_log(
    path: Path, emit: Emitter, *, middleware: Sequence[tel.Middleware] = ()
) -> list[Signal]:
    """Emit through a hub whose handlers are a FileSink on ``path`` and a MemorySink; return
    what the memory sink got (the same signals, in the same order, as the file)."""
    memory = MemorySink()
    hub = tel.Telemetry(
        handlers={"file": FileSink(path), "memory": memory},
        min_level="trace",
        middleware=middleware,
    )
    await hub.open()
    try:
        await emit()
    finally:
        stats = await hub.aclose()
    assert_accounted(stats)
    assert stats.handlers["file"].written == len(memory.signals)
    return list(memory.signals)


async def mixed() -> None:
    """Signals of every kind and several levels and ids."""
    await tel.log("debug", "warming up", step=1)
    await tel.log("info", "user joined", room="lobby")
    await tel.event("user.signup", plan="pro")
    await tel.log("warn", "slow query", ms=250)
    async with tel.span("db.query", table="users"):
        await tel.log("trace", "inside the span")
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        await tel.error(exc, id="input.invalid")
    await tel.event("user.login", level="debug", user=7)
    await tel.log("fatal", "out of disk", free=0)


def numbered(prefix: str, n: int) -> Emitter:
    async def emit() -> None:
        for i in range(n):
            await tel.event(f"{prefix}.tick", i=i)

    return emit


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def decode_lines(text: str) -> list[Signal]:
    return [msgspec.json.decode(line, type=Signal) for line in text.splitlines()]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


# -- reading ---------------------------------------------------------------------------------


async def test_reader_gives_back_what_the_file_sink_wrote(tmp_path: Path) -> None:
    """Every line the file sink wrote decodes into the very signal that was written."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, mixed)
    records = list(read_records(path))
    assert [r.problem for r in records] == [None] * len(written)
    assert [r.signal for r in records] == written


async def test_tail_and_stats_read_lines_with_and_without_timestamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files from before "timestamp" (inst only), new lines (both) and lines a shipper left
    with "timestamp" only are read alike: tail shows each at its time, stats counts them."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, mixed)
    new_lines = path.read_bytes().splitlines()
    assert all(line.startswith(b'{"timestamp":"') for line in new_lines)
    old = [json.loads(line) for line in new_lines[:3]]
    for obj in old:
        del obj["timestamp"]  # as versions before it wrote them
    only = json.loads(new_lines[3])
    del only["inst"]
    lines = [json.dumps(o).encode() for o in old] + [json.dumps(only).encode(), *new_lines[4:]]
    path.write_bytes(b"\n".join(lines) + b"\n")

    status, out, err = run(["tail", str(path)], capsys)
    assert (status, err) == (0, "")
    expected = [
        *written[:3],
        msgspec.structs.replace(written[3], inst=written[3].inst // 1000 * 1000),
    ]
    expected += written[4:]
    assert out == "".join(TextFormat(traceback=True).format(s) + "\n" for s in expected)
    status, out, _ = run(["stats", "--json", str(path)], capsys)
    got = json.loads(out)
    assert (status, got["signals"], got["not_signals"]) == (0, len(written), {})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=12))
def test_reader_turns_any_line_into_one_record(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    """Arbitrary bytes never raise: each non-blank line is one record, a signal or a problem."""
    content = b"\n".join(lines)
    assume(not content.startswith(GZIP_MAGIC))
    path = tmp_path_factory.mktemp("junk") / "junk.jsonl"
    path.write_bytes(content)
    records = list(read_records(path))
    assert len(records) == sum(1 for line in lines if line.strip())
    for rec in records:
        assert (rec.signal is None) == (rec.problem in PROBLEMS)


# -- tail ------------------------------------------------------------------------------------


async def test_tail_prints_each_signal_as_a_text_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a terminal, tail prints every signal, in order, as the plain text format does."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, mixed)
    status, out, err = run(["tail", str(path)], capsys)
    assert status == 0
    assert err == ""
    assert out == "".join(TextFormat(traceback=True).format(s) + "\n" for s in written)
    assert "\x1b[" not in out


async def test_tail_json_prints_the_lines_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json passes the matching lines through byte for byte."""
    path = tmp_path / "app.jsonl"
    await write_log(path, mixed)
    status, out, _ = run(["tail", "--json", str(path)], capsys)
    assert status == 0
    assert out == path.read_text()


async def test_tail_colour_always_uses_the_coloured_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--color always prints the text format's coloured lines."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, mixed)
    _, out, _ = run(["tail", "--color", "always", str(path)], capsys)
    assert out == "".join(TextFormat(colour=True, traceback=True).format(s) + "\n" for s in written)


def rotated_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("app.*.jsonl.gz"))


async def test_tail_reads_a_real_gzip_rotation_of_the_file_sink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file sink's own daily rotation with gzip: the rotated .gz and the live file read
    back, together, as exactly what was emitted, in order."""
    now = [1_795_000_000.0]
    memory = MemorySink()
    sink = FileSink(
        tmp_path / "app.jsonl", rotate_every="1d", utc=True, compress="gzip", clock=lambda: now[0]
    )
    async with tel.Telemetry(
        handlers={"file": {"sink": sink, "mode": "blocking"}, "memory": memory}
    ) as hub:
        for i in range(5):
            await hub.log("info", "old", i=i)
        await hub.flush()
        now[0] += 86_400
        for i in range(4):
            await hub.log("info", "new", i=i)
    (rotated,) = rotated_files(tmp_path)
    status, out, err = run(["tail", "--json", str(rotated), str(tmp_path / "app.jsonl")], capsys)
    assert (status, err) == (0, "")
    assert decode_lines(out) == memory.signals
    assert [s.msg for s in memory.signals] == ["old"] * 5 + ["new"] * 4


async def test_tail_reads_a_gzip_rotation_then_the_live_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rotated, gzip-compressed file reads like the plain one, in the order given."""
    live = tmp_path / "app.jsonl"
    first = await write_log(live, numbered("old", 5))
    rotated = tmp_path / ROTATED
    rotated.write_bytes(gzip.compress(live.read_bytes()))  # what rotation does: compress ...
    live.unlink()  # ... and start a new file
    second = await write_log(live, numbered("new", 4))
    status, out, err = run(["tail", "--json", str(rotated), str(live)], capsys)
    assert (status, err) == (0, "")
    assert decode_lines(out) == first + second


async def test_corrupted_and_truncated_lines_are_shown_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line that is not JSON, one that is JSON but no signal, and a cut-short last line are
    printed where they are, marked, and counted; every signal around them still shows."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, mixed)
    lines = path.read_bytes().splitlines(keepends=True)
    extra = JsonFormat().encode(written[0])
    damaged = [
        *lines[:2],
        b"\x00\x1b[31mnot json at all {\n",
        *lines[2:4],
        b'{"level": "info", "message": "from another logger"}\n',
        *lines[4:],
        extra[: len(extra) // 2],  # the process died in the middle of a write
    ]
    path.write_bytes(b"".join(damaged))

    status, out, err = run(["tail", str(path)], capsys)
    assert status == 0
    shown = out.splitlines()
    marked = [line for line in shown if line.startswith("!! ")]
    assert [line for line in shown if not line.startswith("!! ")] == [
        line for s in written for line in TextFormat(traceback=True).format(s).split("\n")
    ]
    assert marked[0].startswith(f"!! {path}:3: {PROBLEMS['not_json']}: ")
    assert "\x1b" not in marked[0]  # control characters are escaped, never passed through
    assert marked[1].startswith(f"!! {path}:6: {PROBLEMS['not_signal']}: ")
    assert marked[2].startswith(f"!! {path}:{len(damaged)}: {PROBLEMS['truncated']}: ")
    assert shown.index(marked[0]) == 2
    assert shown.index(marked[1]) == 5
    assert "3 lines were not signals (not_json=1, not_signal=1, truncated=1)" in err

    status, out, err = run(["tail", "--json", str(path)], capsys)
    assert decode_lines(out) == written  # stdout stays valid JSON lines
    assert err.count(f"{path}:") == 3


async def test_a_gzip_rotation_cut_short_keeps_what_came_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A compressed file that ends early gives its complete lines and one 'truncated' record."""
    live = tmp_path / "app.jsonl"
    written = await write_log(live, numbered("tick", 400))
    packed = gzip.compress(live.read_bytes())
    rotated = tmp_path / ROTATED
    rotated.write_bytes(packed[: len(packed) * 2 // 3])
    status, out, err = run(["tail", "--json", str(rotated)], capsys)
    assert status == 0
    got = decode_lines(out)
    assert got == written[: len(got)]
    assert "not signals (truncated=1)" in err


async def test_level_is_a_minimum_and_id_a_glob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--level keeps that level and above; --id keeps ids matching any of the globs."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, mixed)

    _, out, _ = run(["tail", "--json", "--level", "warn", str(path)], capsys)
    assert decode_lines(out) == [s for s in written if s.severity >= Level.WARN]

    _, out, _ = run(["tail", "--json", "--id", "user.*", str(path)], capsys)
    assert decode_lines(out) == [s for s in written if s.id and s.id.startswith("user.")]

    argv = ["tail", "--json", "--id", "db.query", "--id", "input.inval?d", str(path)]
    _, out, _ = run(argv, capsys)
    assert decode_lines(out) == [s for s in written if s.id in ("db.query", "input.invalid")]

    _, out, _ = run(["tail", "--json", "--level", "debug", "--id", "user.*", str(path)], capsys)
    assert [s.id for s in decode_lines(out)] == ["user.signup", "user.login"]


async def requests() -> None:
    """Signals of two namespaces, with request ids in the context and statuses in the data."""
    for i, status in enumerate((200, 500, 200, 404)):
        with tel.bind(request_id=f"req-{i}"):
            await tel.signal("request done", ns="app.http", data={"status": status, "ok": i != 1})
            await tel.signal(f"GET /items/{i} HTTP/1.1", ns="uvicorn.access")
    await tel.log("info", "cache warmed", entries=3)


async def test_ns_where_and_grep_filter_and_combine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--ns keeps namespaces matching a glob; --where a data or context value (all of them
    when repeated); --grep the text of the printed line; with --level and --id too."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, requests)

    def tail(*argv: str) -> list[Signal]:
        status, out, err = run(["tail", "--json", *argv, str(path)], capsys)
        assert (status, err) == (0, "")
        return decode_lines(out)

    assert tail("--ns", "uvicorn.*") == [s for s in written if s.ns == "uvicorn.access"]
    assert tail("--ns", "app.*", "--ns", "tests.*") == [
        s for s in written if s.ns != "uvicorn.access"
    ]
    assert tail("--where", "request_id=req-1") == [
        s for s in written if s.ctx.get("request_id") == "req-1"
    ]
    assert [s.ctx["request_id"] for s in tail("--where", "status=500")] == ["req-1"]
    assert [s.ctx["request_id"] for s in tail("--where", "ok=false")] == ["req-1"]
    assert tail("--where", "status=200", "--where", "request_id=req-2") == [
        s for s in written if s.ctx.get("request_id") == "req-2" and s.data.get("status") == 200
    ]
    assert tail("--where", "status=200", "--where", "request_id=req-1") == []
    assert [s.msg for s in tail("--grep", "/items/3")] == ["GET /items/3 HTTP/1.1"]
    assert [s.msg for s in tail("--grep", "entries=3")] == ["cache warmed"]
    assert tail("--ns", "uvicorn.*", "--grep", "request done") == []
    assert tail("--level", "warn", "--ns", "app.*") == []
    assert tail("--id", "nothing", "--where", "status=200") == []

    status, out, _ = run(
        ["stats", "--json", "--ns", "app.*", "--where", "status=200", str(path)], capsys
    )
    got = json.loads(out)
    assert (status, got["signals"], got["filtered"]) == (0, 2, len(written) - 2)


def test_where_must_be_key_equals_value(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["tail", "--where", "status", "x.jsonl"], capsys)
    assert status == 2
    assert "--where must be KEY=VALUE" in err


async def test_since_keeps_the_recent_signals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since 10m keeps signals from the last ten minutes; an ISO time keeps those from it on."""
    ages_s = [7200, 1800, 601, 300, 5, 0]

    async def emit() -> None:
        for age in ages_s:
            await tel.event("aged", age_s=age)

    def backdate(sig: Signal) -> Signal:  # the signals were written at these ages
        return msgspec.structs.replace(sig, inst=sig.inst - sig.data["age_s"] * 10**9)

    path = tmp_path / "app.jsonl"
    written = await write_log(path, emit, middleware=[backdate])
    _, out, _ = run(["tail", "--json", "--since", "10m", str(path)], capsys)
    assert [s.data["age_s"] for s in decode_lines(out)] == [a for a in ages_s if a < 600]

    cut = written[2]
    iso = TextFormat().format(cut).split()[0]  # the time tail shows, copied from its output
    _, out, _ = run(["tail", "--json", "--since", iso, str(path)], capsys)
    assert decode_lines(out) == [s for s in written if s.inst >= cut.inst // 1000 * 1000]


async def test_lines_keeps_the_last_n(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-n N prints the last N lines that pass the filters."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, mixed)
    _, out, _ = run(["tail", "--json", "-n", "3", str(path)], capsys)
    assert decode_lines(out) == written[-3:]
    _, out, _ = run(["tail", "--json", "-n", "2", "--level", "warn", str(path)], capsys)
    assert decode_lines(out) == [s for s in written if s.severity >= Level.WARN][-2:]


async def test_a_missing_file_is_reported_and_the_rest_still_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that cannot be read is named on stderr, exit status 1; the others are printed."""
    path = tmp_path / "app.jsonl"
    written = await write_log(path, mixed)
    status, out, err = run(["tail", "--json", str(tmp_path / "nope.jsonl"), str(path)], capsys)
    assert status == 1
    assert "cannot read" in err
    assert "nope.jsonl" in err
    assert decode_lines(out) == written


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tail", "--level", "loud", "x"], "'trace'"),
        (["tail", "--since", "yesterday", "x"], "30s, 10m"),
        (["tail", "-n", "-1", "x"], ">= 0"),
        (["stats"], "FILE"),
        ([], "COMMAND"),
    ],
)
def test_usage_errors_exit_2_and_say_what_is_allowed(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong option is refused before any reading, naming what is allowed."""
    status, _, err = run(argv, capsys)
    assert status == 2
    assert says in err


def test_since_parses_durations_and_iso_times() -> None:
    """Durations count back from now; ISO times without an offset are UTC."""
    now = 1_800_000_000 * 10**9
    assert parse_since("30s", now_ns=now) == now - 30 * 10**9
    assert parse_since("10m", now_ns=now) == now - 600 * 10**9
    assert parse_since("1.5h", now_ns=now) == now - 5400 * 10**9
    assert parse_since("1d", now_ns=now) == now - 86400 * 10**9
    assert parse_since("250ms", now_ns=now) == now - 250 * 10**6
    assert parse_since("2027-01-15T08:00:00.000001Z") == 1_800_000_000 * 10**9 + 1000
    assert parse_since("2027-01-15T08:00:00") == 1_800_000_000 * 10**9
    assert parse_since("2027-01-15T09:00:00+01:00") == 1_800_000_000 * 10**9
    with pytest.raises(tel.ConfigError, match="--since"):
        parse_since("10 parsecs")


# -- stats -----------------------------------------------------------------------------------


async def test_stats_counts_levels_kinds_ids_errors_and_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stats --json gives the counts of what was written, and the damaged lines by reason."""
    live = tmp_path / "app.jsonl"
    first = await write_log(live, mixed)
    rotated = tmp_path / ROTATED
    rotated.write_bytes(gzip.compress(live.read_bytes()))
    live.unlink()
    second = await write_log(live, mixed)
    with live.open("ab") as fh:
        fh.write(b'oops\n{"inst": 1')
    written = first + second

    status, out, err = run(["stats", "--json", str(rotated), str(live)], capsys)
    assert (status, err) == (0, "")
    got = json.loads(out)
    assert got["signals"] == len(written)
    assert got["by_level"] == dict(Counter(s.level for s in written))
    assert list(got["by_level"]) == sorted(got["by_level"], key=lambda lv: Level[lv.upper()])
    assert got["by_kind"] == dict(Counter(s.kind for s in written))
    assert got["by_id"] == dict(Counter(s.id for s in written if s.id))
    assert got["without_id"] == sum(1 for s in written if s.id is None)
    errors = sum(1 for s in written if s.severity >= Level.ERROR)
    assert got["errors"] == errors
    assert got["error_rate"] == errors / len(written)
    assert got["first_ns"] == min(s.inst for s in written)
    assert got["last_ns"] == max(s.inst for s in written)
    assert got["not_signals"] == {"not_json": 1, "truncated": 1}

    status, out, _ = run(["stats", "--level", "error", str(rotated), str(live)], capsys)
    assert status == 0
    text = out.splitlines()
    assert f"signals    {errors} ({len(written) - errors} more left out by the filters)" in text
    assert "not signals 2 lines (not_json=1, truncated=1)" in text
    level_rows = text[text.index("level     count   share") + 1 :]
    at_error = sum(1 for s in written if s.level == "error")
    assert level_rows[0].split()[:2] == ["error", str(at_error)]


async def test_stats_of_no_signals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty file has no times and a zero error rate, without dividing by zero."""
    path = tmp_path / "empty.jsonl"
    path.touch()
    status, out, _ = run(["stats", "--json", str(path)], capsys)
    got = json.loads(out)
    assert status == 0
    assert (got["signals"], got["error_rate"], got["first"], got["last"]) == (0, 0.0, None, None)


# -- as a program ----------------------------------------------------------------------------


def test_python_m_telemetry_runs_as_a_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m telemetry tail` and `stats` in a child process print what main() prints."""
    path = tmp_path / "app.jsonl"
    asyncio.run(write_log(path, mixed))
    for argv in (["tail", "--json", str(path)], ["tail", str(path)], ["stats", str(path)]):
        child = subprocess.run(
            [*TELEMETRY, *argv],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=TIMEOUT_S,
            check=False,
        )
        _, out, _ = run(argv, capsys)
        assert (child.returncode, child.stderr) == (0, "")
        assert child.stdout == out


def test_colour_on_a_terminal_and_not_when_told(tmp_path: Path) -> None:
    """On a terminal tail colours its lines (unless NO_COLOR or --color never)."""
    path = tmp_path / "app.jsonl"
    asyncio.run(write_log(path, mixed))

    def on_a_tty(*argv: str, **env: str) -> bytes:
        leader, follower = pty.openpty()
        try:
            child = subprocess.Popen(
                [*TELEMETRY, "tail", *argv, str(path)],
                stdout=follower,
                stderr=subprocess.DEVNULL,
                env={**child_env(), **env},
            )
            os.close(follower)
            chunks = []
            while True:  # read as it comes: a full terminal buffer would block the child
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the child has exited and everything was read
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            assert child.wait(TIMEOUT_S) == 0
            return b"".join(chunks)
        finally:
            os.close(leader)

    assert b"\x1b[31m" in on_a_tty()  # the error signal, in red
    assert b"\x1b[" not in on_a_tty("--color", "never")
    assert b"\x1b[" not in on_a_tty(NO_COLOR="1")


def test_demo_runs_the_quickstart_as_make_demo_does() -> None:
    """`python -m telemetry demo` runs the demo script from the repository root, successfully."""
    child = subprocess.run(
        [*TELEMETRY, "demo"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=TIMEOUT_S,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout or child.stderr  # whichever demo script it is, it shows something


def test_demo_prefers_demo_py_and_passes_arguments(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """examples/demo.py wins over quickstart.py; arguments reach it; it runs in the root."""
    examples = tmp_path / "examples"
    examples.mkdir()
    show = "import os, sys; print(os.path.basename(__file__), os.getcwd(), *sys.argv[1:])"
    (examples / "quickstart.py").write_text(show)
    assert run_demo(["a"], err=sys.stderr, examples=examples) == 0
    assert capfd.readouterr().out.split() == ["quickstart.py", str(tmp_path), "a"]
    (examples / "demo.py").write_text(show + "; sys.exit(3)")
    assert run_demo(["b", "--c"], err=sys.stderr, examples=examples) == 3
    assert capfd.readouterr().out.split() == ["demo.py", str(tmp_path), "b", "--c"]
    (examples / "demo.py").unlink()
    (examples / "quickstart.py").unlink()
    assert run_demo([], err=sys.stderr, examples=examples) == 2
    assert "source checkout" in capfd.readouterr().err


# -- follow ----------------------------------------------------------------------------------


def write_in_thread(path: Path, emit: Emitter, box: list[list[Signal]]) -> threading.Thread:
    """Write with the file sink on a loop of its own, as another process would."""
    thread = threading.Thread(target=lambda: box.append(asyncio.run(write_log(path, emit))))
    thread.start()
    return thread


async def test_followed_file_reads_appends_across_rotation_and_truncation(
    tmp_path: Path,
) -> None:
    """Polling returns what was appended; after a rotation the old file is finished first and
    the new one read from its start; a file truncated in place is read again from the start."""
    path = tmp_path / "app.jsonl"
    fol = FollowedFile(path, LineDecoder())
    assert fol.poll() == []  # not there yet: waited for
    assert not fol.is_open

    one = await write_log(path, numbered("one", 3))
    assert [r.signal for r in fol.poll()] == one
    assert fol.poll() == []

    two = await write_log(path, numbered("two", 2))
    line = JsonFormat().encode(two[0])
    with path.open("ab") as fh:
        fh.write(line[:10])  # a write in progress: not a record yet
    assert [r.signal for r in fol.poll()] == two
    with path.open("ab") as fh:
        fh.write(line[10:] + b"\n")
    assert [r.signal for r in fol.poll()] == two[:1]

    path.rename(tmp_path / "app.1.jsonl")  # rotation: the old file goes on being written ...
    late = await write_log(tmp_path / "app.1.jsonl", numbered("late", 1))
    assert [r.signal for r in fol.poll()] == late  # ... and, while missing, is read on
    three = await write_log(path, numbered("three", 2))
    with (tmp_path / "app.1.jsonl").open("ab") as fh:
        fh.write(b"last words, cut")
    records = fol.poll()
    assert [r.problem for r in records] == ["truncated", None, None]
    assert [r.signal for r in records[1:]] == three
    assert fol.rotations == 1

    path.write_bytes(b"")  # truncated in place (copytruncate)
    four = await write_log(path, numbered("four", 1))
    assert [r.signal for r in fol.poll()] == four
    assert fol.truncations == 1
    assert fol.close() == []


def test_follow_prints_appends_across_a_rotation_until_ctrl_c(tmp_path: Path) -> None:
    """`tail --follow` in a child process prints what a background writer appends, before and
    after the file is rotated, and stops cleanly on SIGINT, reporting a cut-short line."""
    path = tmp_path / "app.jsonl"
    child = subprocess.Popen(
        [*TELEMETRY, "tail", "--follow", "--json", "--interval", "0.02", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    lines: queue.Queue[bytes] = queue.Queue()

    def read_stdout() -> None:
        for line in child.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=read_stdout)
    reader.start()
    deadline = time.monotonic() + TIMEOUT_S

    def seen(n: int) -> list[Signal]:
        """The next ``n`` lines the follower prints, decoded; fails at the deadline."""
        return [
            msgspec.json.decode(lines.get(timeout=deadline - time.monotonic()), type=Signal)
            for _ in range(n)
        ]

    try:
        box: list[list[Signal]] = []
        write_in_thread(path, numbered("before", 20), box).join(TIMEOUT_S)
        assert seen(20) == box[0]
        path.rename(tmp_path / "app.2026-11-22T10-15-00.123456.jsonl")
        write_in_thread(path, numbered("after", 30), box).join(TIMEOUT_S)
        assert seen(30) == box[1]
        # A whole line and a cut-short one in one write: once the whole one is printed, a
        # poll has read the cut-short one too.
        last = path.read_bytes().splitlines(keepends=True)[-1]
        with path.open("ab") as fh:
            fh.write(last + b'{"inst": 17')
        assert seen(1) == box[1][-1:]
    finally:
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=TIMEOUT_S)
        reader.join(TIMEOUT_S)
    assert (out, lines.qsize()) == (b"", 0)  # not a line: never printed, not even at the end
    assert child.returncode == 0
    assert b"Traceback" not in err
    assert PROBLEMS["truncated"].encode() in err
    assert b"1 line was not signals (truncated=1)" in err
