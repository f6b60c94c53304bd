"""The file sink: formats, names, rotation, retention, compression, many processes, faults."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import itertools
import json
import math
import multiprocessing
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry import ConfigError, Stats, Telemetry
from telemetry._warn import _warner
from telemetry.sinks import FileSink
from telemetry.sinks._append import AppendFile
from telemetry.sinks._housekeeping import gzip_file
from telemetry.sinks._rotation import SIZE_UNITS, next_boundary, parse_interval, parse_size
from telemetry.testing import make_signal
from tests.conftest import IN_CI, assert_accounted, require

STAMP = r"\d{8}_\d{6}_\d{6}"


class FakeClock:
    """A clock the test moves by hand (epoch seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a file (gzip or not) parsed as JSON; fails on a torn or invalid line."""
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    assert not data or data.endswith(b"\n"), f"{path.name} ends with half a line"
    return [json.loads(line) for line in data.splitlines()]


def numbers(lines: list[dict[str, Any]]) -> list[int]:
    """The ``i`` each test puts in its signals, in file order."""
    return [line["data"]["i"] for line in lines]


def rotated_files(directory: Path, stem: str = "app") -> list[Path]:
    """Finished files of ``stem``, oldest first (their names carry the rotation time)."""
    pattern = re.compile(rf"{stem}\.{STAMP}\.jsonl(\.gz)?")
    return sorted(p for p in directory.iterdir() if pattern.fullmatch(p.name))


def hub_for(sink: FileSink, **options: Any) -> Telemetry:
    """A hub with one blocking handler (nothing dropped for lack of room) on ``sink``."""
    return Telemetry(handlers={"f": {"sink": sink, "mode": "blocking", **options}})


async def emit(hub: Telemetry, numbers: range, *, pad: int = 0) -> None:
    """Emit one log signal per number, as ``data.i``; then wait until they are written."""
    for i in numbers:
        await hub.log("info", "line", i=i, pad="x" * pad)
    await hub.flush()


def handler(stats: Stats) -> Any:
    """The stats of the one handler ``hub_for`` makes."""
    return stats.handlers["f"]


def listing(directory: Path, pattern: str) -> list[Path]:
    """The files of ``directory`` matching the glob ``pattern``, sorted."""
    return sorted(directory.glob(pattern))


def identity(path: Path) -> tuple[int, int, bool]:
    """Device, inode and whether it is a folder: what the fsync spy records."""
    st = path.stat()
    return (st.st_dev, st.st_ino, stat.S_ISDIR(st.st_mode))


def dead_pid() -> int:
    """The pid of a process that has exited."""
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **_OUT)
    return int(out.stdout)


_OUT: dict[str, Any] = {"capture_output": True, "text": True, "check": True}


@pytest.fixture
def local_tz() -> Iterator[Callable[[str], None]]:
    """Switch the process's local time zone for one test."""
    saved = os.environ.get("TZ")

    def use(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield use
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


# -- configuration ------------------------------------------------------------------------------


@given(
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from(sorted(SIZE_UNITS)),
    st.sampled_from(["", " ", "  "]),
    st.booleans(),
)
def test_sizes_parse_in_every_unit(n: int, unit: str, space: str, upper: bool) -> None:
    """'N UNIT' is N times the unit's bytes, whatever the spacing and case."""
    text = f"{n}{space}{unit.upper() if upper else unit}"
    assert parse_size(text, "rotate_bytes") == n * SIZE_UNITS[unit]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"rotate_bytes": "100 parsecs"}, "rotate_bytes"),
        ({"rotate_bytes": "0 MB"}, "rotate_bytes"),
        ({"rotate_bytes": -5}, "rotate_bytes"),
        ({"rotate_every": "5 fortnights"}, "rotate_every"),
        ({"rotate_every": "0h"}, "rotate_every"),
        ({"rotate_every": "1h", "keep": -1}, "keep"),
        ({"rotate_every": "1h", "max_age": -3600}, "max_age"),
        ({"rotate_every": "1h", "max_age": "7 eons"}, "max_age"),
        ({"rotate_every": "1h", "compress": "zip"}, "compress"),
        ({"compress": "gzip"}, "compress"),
        ({"keep": 3}, "keep"),
        ({"format": "xml"}, "format"),
        ({"fsync": "always"}, "fsync"),
        ({"file_mode": 0o10000}, "file_mode"),
    ],
)
def test_bad_options_fail_at_construction_naming_the_parameter(
    tmp_path: Path, kwargs: dict[str, Any], param: str
) -> None:
    """Each wrong option raises ConfigError naming that option, before anything is opened."""
    with pytest.raises(ConfigError) as info:
        FileSink(tmp_path / "app.jsonl", **kwargs)
    assert info.value.param == param
    assert str(info.value).startswith(param)
    assert not (tmp_path / "app.jsonl").exists()


@pytest.mark.parametrize(
    "path", ["logs/{user}.jsonl", "logs/{time:%Y}.jsonl", "logs/{time}/app.jsonl", "logs/", "{"]
)
def test_bad_paths_fail_at_construction(path: str) -> None:
    """Unknown placeholders, format specs, {time} in a folder, no file name: ConfigError(path)."""
    with pytest.raises(ConfigError) as info:
        FileSink(path)
    assert info.value.param == "path"


async def test_a_path_that_is_a_directory_fails_at_open(tmp_path: Path) -> None:
    """A path naming an existing folder raises ConfigError(path) when the hub opens."""
    with pytest.raises(ConfigError) as info:
        async with hub_for(FileSink(tmp_path)):
            pass
    assert info.value.param == "path"
    assert "directory" in str(info.value)


# -- formats, names, durability -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "text", "logfmt"])
async def test_each_format_writes_one_line_per_signal(tmp_path: Path, fmt: str) -> None:
    """Every format writes exactly one line per signal, even with a newline in a value."""
    path = tmp_path / "app.log"
    async with hub_for(FileSink(path, format=fmt)) as hub:
        for i in range(50):
            await hub.log("info", "two\nlines", i=i, note="a\nb")
    stats = hub.stats()
    assert_accounted(stats)
    lines = path.read_bytes().splitlines()
    assert len(lines) == handler(stats).written == 50
    if fmt == "json":
        assert [json.loads(x)["data"]["i"] for x in lines] == list(range(50))
    else:
        assert all(f"i={i}".encode() in line for i, line in enumerate(lines))


async def test_new_files_get_the_configured_mode(tmp_path: Path) -> None:
    """A created file has file_mode, whatever the umask allows beyond it."""
    path = tmp_path / "deep" / "er" / "app.jsonl"
    async with hub_for(FileSink(path, file_mode=0o600)) as hub:
        await emit(hub, range(3))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_time_placeholder_has_microseconds(tmp_path: Path, local_tz: Callable[[str], None]) -> None:
    """{time} renders the start time as YYYYmmdd_HHMMSS_ffffff, in local time or UTC."""
    local_tz("Asia/Kolkata")
    start = datetime(2026, 8, 10, 17, 15, 34, 892341)
    clock = FakeClock(start.timestamp())
    sink = FileSink(tmp_path / "logs" / "session_{time}.jsonl", clock=clock)
    expected = f"session_{start:%Y%m%d}_{start:%H%M%S}_{start.microsecond:06d}.jsonl"
    assert sink.path == tmp_path / "logs" / expected
    in_utc = datetime.fromtimestamp(clock.now, UTC)
    utc_sink = FileSink(tmp_path / "session_{time}.jsonl", clock=clock, utc=True)
    assert utc_sink.path.name == f"session_{in_utc:%Y%m%d_%H%M%S}_{in_utc.microsecond:06d}.jsonl"


async def test_pid_and_host_placeholders(tmp_path: Path) -> None:
    """{pid} and {host} name this process and machine; the file is written under that name."""
    sink = FileSink(tmp_path / "{host}" / "app-{pid}.jsonl")
    async with hub_for(sink) as hub:
        await emit(hub, range(5))
    host = read_lines(sink.path)[0]["host"]
    assert sink.path == tmp_path / host / f"app-{os.getpid()}.jsonl"
    assert numbers(read_lines(sink.path)) == list(range(5))


@pytest.fixture
def fsync_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, bool]]:
    """Every os.fsync as (device, inode, is a directory); the real fsync still runs."""
    calls: list[tuple[int, int, bool]] = []
    real = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        real(fd)
        calls.append((st.st_dev, st.st_ino, stat.S_ISDIR(st.st_mode)))

    monkeypatch.setattr(os, "fsync", spy)
    return calls


@pytest.mark.parametrize("policy", ["close", "batch", "never"])
async def test_fsync_policies(
    tmp_path: Path, fsync_log: list[tuple[int, int, bool]], policy: str
) -> None:
    """close: the file and its folder are fsynced by aclose; batch: every write; never: none."""
    path = tmp_path / "app.jsonl"
    async with hub_for(FileSink(path, fsync=policy), batch_size=10) as hub:  # type: ignore[arg-type]
        await emit(hub, range(100))
        during = len(fsync_log)
    ident, folder = identity(path), identity(tmp_path)
    batches = handler(hub.stats()).batches
    if policy == "never":
        assert fsync_log == []
        return
    assert fsync_log[-1] == ident  # the last thing aclose() does before returning
    assert folder in fsync_log  # the file's directory entry is durable too
    if policy == "batch":
        assert fsync_log.count(ident) >= batches
    else:
        assert during <= 2  # hub.flush() only, not per batch


# -- rotation by size -------------------------------------------------------------------------


async def test_size_rotation_keeps_files_under_the_limit_and_the_path_active(
    tmp_path: Path,
) -> None:
    """rotate_bytes starts a new file before a batch would pass the limit; nothing is lost,
    the order is kept, finished files carry a timestamp and the active file is the path."""
    path = tmp_path / "app.jsonl"
    limit = 8 * 1024
    sink = FileSink(path, rotate_bytes="8 KiB")
    async with hub_for(sink, batch_size=8) as hub:
        await emit(hub, range(1000))
    stats = hub.stats()
    assert_accounted(stats)
    done = rotated_files(tmp_path)
    assert len(done) >= 10
    assert handler(stats).sink_counters["rotations"] == len(done)
    assert all(p.stat().st_size <= limit for p in done)
    assert sink.path == path
    everything = [n for p in [*done, path] for n in numbers(read_lines(p))]
    assert everything == list(range(1000))


async def test_a_batch_larger_than_the_limit_is_split_across_files(tmp_path: Path) -> None:
    """40 signals taken as one batch with rotate_bytes=2000 fill files of at most 2,000 bytes
    each, in order, none lost: a batch is split at the last line that fits."""
    path = tmp_path / "app.jsonl"
    async with hub_for(FileSink(path, rotate_bytes=2000)) as hub:
        for i in range(40):
            hub.log_nowait("info", "user joined", i=i, room="lobby")
        await hub.flush()
    stats = hub.stats()
    assert_accounted(stats)
    assert handler(stats).batches == 1
    files = [*rotated_files(tmp_path), path]
    sizes = [p.stat().st_size for p in files]
    assert len(files) == handler(stats).sink_counters["rotations"] + 1 >= 5
    assert max(sizes) <= 2000
    assert sum(sizes) > 2000 * (len(files) - 1) * 0.8  # files are filled, not one line each
    assert [n for p in files for n in numbers(read_lines(p))] == list(range(40))


async def test_a_line_longer_than_the_limit_goes_alone_into_a_file(tmp_path: Path) -> None:
    """A line longer than rotate_bytes is the only line of its file: a file passes the limit
    by at most its one line, and the lines before and after go to files of their own."""
    path = tmp_path / "app.jsonl"
    async with hub_for(FileSink(path, rotate_bytes=300)) as hub:
        hub.log_nowait("info", "line", i=0)
        hub.log_nowait("info", "line", i=1, pad="x" * 500)
        hub.log_nowait("info", "line", i=2)
        await hub.flush()
    assert_accounted(hub.stats())
    assert [numbers(read_lines(p)) for p in [*rotated_files(tmp_path), path]] == [[0], [1], [2]]


async def test_split_batches_keep_compression_and_retention(tmp_path: Path) -> None:
    """Files cut from inside batches are compressed and pruned like any other: each archive
    holds at most rotate_bytes of whole lines, keep=3 leaves the newest three."""
    path = tmp_path / "app.jsonl"
    sink = FileSink(path, rotate_bytes=1500, compress="gzip", keep=3)
    async with hub_for(sink) as hub:
        for i in range(60):
            hub.log_nowait("info", "line", i=i)
        await hub.flush()
    stats = hub.stats()
    assert_accounted(stats)
    assert handler(stats).sink_counters["rotations"] > 3
    done = rotated_files(tmp_path)
    assert len(done) == 3 and all(p.name.endswith(".gz") for p in done)
    for p in done:
        with gzip.open(p) as f:
            assert len(f.read()) <= 1500
    kept = [n for p in [*done, path] for n in numbers(read_lines(p))]
    assert kept == list(range(60 - len(kept), 60))


async def test_time_template_starts_a_new_name_at_each_rotation(tmp_path: Path) -> None:
    """With {time} in the path a rotation starts a new timestamped file instead of renaming."""
    clock = FakeClock(time.time())
    sink = FileSink(tmp_path / "session_{time}.jsonl", rotate_bytes=2000, clock=clock)
    async with hub_for(sink, batch_size=5) as hub:
        for k in range(4):
            await emit(hub, range(k * 20, k * 20 + 20))
            clock.now += 0.5
    files = listing(tmp_path, "session_*.jsonl")
    assert all(re.fullmatch(rf"session_{STAMP}\.jsonl", p.name) for p in files)
    assert len(files) == handler(hub.stats()).sink_counters["rotations"] + 1
    assert sink.path == files[-1]
    assert [n for p in files for n in numbers(read_lines(p))] == list(range(80))


# -- rotation by time ---------------------------------------------------------------------------


async def test_hourly_rotation_follows_the_clock(tmp_path: Path) -> None:
    """rotate_every='1h' rotates at the first write after each hour boundary, never before;
    the finished file is named with the rotation time."""
    path = tmp_path / "app.jsonl"
    start = datetime(2026, 8, 10, 17, 15, 34, 892341, tzinfo=UTC).timestamp()
    clock = FakeClock(start)
    sink = FileSink(path, rotate_every="1h", utc=True, clock=clock)
    async with hub_for(sink) as hub:
        await emit(hub, range(10))
        clock.now = start + 44 * 60  # 17:59:34: same hour
        await emit(hub, range(10, 20))
        assert rotated_files(tmp_path) == []
        first = datetime(2026, 8, 10, 18, 0, 0, 250000, tzinfo=UTC)
        clock.now = first.timestamp()
        await emit(hub, range(20, 30))
        second = datetime(2026, 8, 10, 19, 30, 0, 1, tzinfo=UTC)
        clock.now = second.timestamp()
        await emit(hub, range(30, 35))
    done = rotated_files(tmp_path)
    assert [p.name for p in done] == [
        f"app.{t:%Y%m%d_%H%M%S}_{t.microsecond:06d}.jsonl" for t in (first, second)
    ]
    assert [numbers(read_lines(p)) for p in [*done, path]] == [
        list(range(20)),
        list(range(20, 30)),
        list(range(30, 35)),
    ]


async def test_an_empty_period_is_not_rotated(tmp_path: Path) -> None:
    """Crossing a boundary with nothing written since the last rotation makes no empty file."""
    clock = FakeClock(datetime(2026, 1, 1, 10, 30, tzinfo=UTC).timestamp())
    path = tmp_path / "app.jsonl"
    async with hub_for(FileSink(path, rotate_every="1h", utc=True, clock=clock)) as hub:
        clock.now += 3600
        await emit(hub, range(3))
    assert rotated_files(tmp_path) == []
    assert numbers(read_lines(path)) == [0, 1, 2]


@pytest.mark.parametrize("utc", [False, True])
async def test_daily_rotation_at_local_or_utc_midnight(
    tmp_path: Path, local_tz: Callable[[str], None], utc: bool
) -> None:
    """'1d' rotates at local midnight by default, at UTC midnight with utc=True."""
    local_tz("Asia/Kolkata")  # UTC+05:30: the two midnights are 5.5 hours apart
    before_local_midnight = datetime(2026, 3, 1, 23, 59, 0).timestamp()
    clock = FakeClock(before_local_midnight)
    path = tmp_path / "app.jsonl"
    async with hub_for(FileSink(path, rotate_every="1d", utc=utc, clock=clock)) as hub:
        await emit(hub, range(5))
        clock.now = datetime(2026, 3, 2, 0, 0, 1).timestamp()  # just after local midnight
        await emit(hub, range(5, 10))
        local_rotations = len(rotated_files(tmp_path))
        clock.now = datetime(2026, 3, 2, 5, 30, 1).timestamp()  # just after UTC midnight
        await emit(hub, range(10, 15))
    assert local_rotations == (0 if utc else 1)
    assert len(rotated_files(tmp_path)) == 1
    assert numbers(read_lines(path)) == (list(range(10, 15)) if utc else list(range(5, 15)))


def test_boundaries_across_a_daylight_saving_change(local_tz: Callable[[str], None]) -> None:
    """'1d' stays at local midnight over a 25-hour day; '30m' stays 30 real minutes apart."""
    local_tz("America/New_York")  # clocks go back at 02:00 on 2026-11-01
    day = parse_interval("1d", "rotate_every")
    t = datetime(2026, 10, 31, 12, 0).timestamp()
    midnights = []
    for _ in range(3):
        t = next_boundary(t, day, utc=False)
        midnights.append(t)
    assert all(datetime.fromtimestamp(m).time().isoformat() == "00:00:00" for m in midnights)
    assert [b - a for a, b in itertools.pairwise(midnights)] == [25 * 3600, 24 * 3600]
    half = parse_interval("30m", "rotate_every")
    t = datetime(2026, 11, 1, 0, 10).timestamp()
    steps = []
    for _ in range(6):
        nxt = next_boundary(t, half, utc=False)
        steps.append(nxt - t)
        t = nxt
        assert datetime.fromtimestamp(t).minute in (0, 30)
    assert steps[1:] == [1800.0] * 5


async def test_size_and_time_rotation_together(tmp_path: Path) -> None:
    """With both rotate_bytes and rotate_every, whichever comes first rotates."""
    start = datetime(2026, 1, 1, 10, 0, 1, tzinfo=UTC).timestamp()
    clock = FakeClock(start)
    path = tmp_path / "app.jsonl"
    sink = FileSink(path, rotate_bytes="4 KB", rotate_every="1h", utc=True, clock=clock)
    async with hub_for(sink, batch_size=4) as hub:
        await emit(hub, range(100))  # ~25 KB: rotations by size
        by_size = len(rotated_files(tmp_path))
        clock.now = start + 3600
        await emit(hub, range(100, 101))  # one small signal: rotation by time
    assert by_size >= 4
    assert len(rotated_files(tmp_path)) == by_size + 1
    assert numbers(read_lines(path)) == [100]


async def test_a_file_left_from_an_earlier_period_is_rotated_at_open(tmp_path: Path) -> None:
    """A non-empty file last written before the current period is renamed (stamped with its
    last write) before the first write, so a day's file never mixes in another day's lines."""
    path = tmp_path / "app.jsonl"
    path.write_text('{"old": true}\n')
    yesterday = datetime(2026, 1, 1, 15, 0, 0, tzinfo=UTC)
    os.utime(path, (yesterday.timestamp(), yesterday.timestamp()))
    clock = FakeClock(datetime(2026, 1, 2, 9, 0, tzinfo=UTC).timestamp())
    async with hub_for(FileSink(path, rotate_every="1d", utc=True, clock=clock)) as hub:
        await emit(hub, range(2))
    assert [p.name for p in rotated_files(tmp_path)] == [
        f"app.{yesterday:%Y%m%d_%H%M%S}_000000.jsonl"
    ]
    assert numbers(read_lines(path)) == [0, 1]


# -- retention and compression ------------------------------------------------------------------


async def test_keep_leaves_the_newest_rotated_files(tmp_path: Path) -> None:
    """keep=N deletes all but the N newest finished files; they hold the latest lines."""
    path = tmp_path / "app.jsonl"
    clock = FakeClock(time.time())
    async with hub_for(FileSink(path, rotate_bytes=1500, keep=2, clock=clock), batch_size=4) as hub:
        for k in range(10):
            await emit(hub, range(k * 10, k * 10 + 10))
            clock.now += 1
    counters = handler(hub.stats()).sink_counters
    done = rotated_files(tmp_path)
    assert len(done) == 2
    assert counters["deleted"] == counters["rotations"] - 2
    kept = [n for p in [*done, path] for n in numbers(read_lines(p))]
    assert kept == list(range(100 - len(kept), 100))


async def test_max_age_deletes_files_not_modified_for_that_long(tmp_path: Path) -> None:
    """max_age deletes finished files whose last write is older than the age, at a rotation."""
    path = tmp_path / "app.jsonl"
    clock = FakeClock(time.time())
    sink = FileSink(path, rotate_bytes=600, max_age="1h", clock=clock)
    async with hub_for(sink, batch_size=2) as hub:
        await emit(hub, range(12))
        await sink._housekeeper.wait()
        old = rotated_files(tmp_path)
        assert len(old) >= 2
        two_hours_ago = clock.now - 7200
        for p in old[:-1]:
            os.utime(p, (two_hours_ago, two_hours_ago))
        clock.now += 1
        await emit(hub, range(12, 24))
    survivors = rotated_files(tmp_path)
    assert set(old[:-1]).isdisjoint(survivors)
    assert old[-1] in survivors


async def test_session_files_are_pruned_when_a_new_session_opens(tmp_path: Path) -> None:
    """With {time} in the path and keep=N, opening a new session deletes all but the N newest
    earlier session files; files of other names are left alone."""
    clock = FakeClock(datetime(2026, 8, 10, 9, 0, tzinfo=UTC).timestamp())
    for hour in range(5):
        clock.now += 3600
        async with hub_for(
            FileSink(tmp_path / "session_{time}.jsonl", clock=clock, utc=True)
        ) as hub:
            await emit(hub, range(hour, hour + 1))
    (tmp_path / "notes.txt").write_text("mine\n")
    clock.now += 3600
    sink = FileSink(tmp_path / "session_{time}.jsonl", keep=2, clock=clock, utc=True)
    async with hub_for(sink) as hub:
        await emit(hub, range(5, 6))
    sessions = listing(tmp_path, "session_*.jsonl")
    assert [numbers(read_lines(p)) for p in sessions] == [[3], [4], [5]]
    assert sessions[-1] == sink.path
    assert (tmp_path / "notes.txt").exists()


async def test_gzip_rotation_produces_complete_archives_of_exactly_the_rotated_lines(
    tmp_path: Path,
) -> None:
    """compress='gzip': every finished file becomes a valid .gz holding exactly its lines,
    with the sink's file mode; no temporary or uncompressed finished file is left."""
    path = tmp_path / "app.jsonl"
    async with hub_for(
        FileSink(path, rotate_bytes="16 KiB", compress="gzip", file_mode=0o600), batch_size=16
    ) as hub:
        await emit(hub, range(3000))
    stats = hub.stats()
    assert_accounted(stats)
    done = rotated_files(tmp_path)
    assert len(done) >= 10
    assert all(p.name.endswith(".gz") for p in done)
    assert listing(tmp_path, "*.tmp") == []
    counters = handler(stats).sink_counters
    assert counters["compressed"] == counters["rotations"] == len(done)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in done)
    for p in done:
        with gzip.open(p) as f:
            assert len(f.read()) <= 16 * 1024
    everything = [n for p in [*done, path] for n in numbers(read_lines(p))]
    assert everything == list(range(3000))


async def test_an_interrupted_compression_is_finished_by_the_next_process(tmp_path: Path) -> None:
    """A half-written .gz.PID.tmp of a dead process is removed and its original compressed
    again when a sink opens; a complete-looking .gz never holds half a file."""
    pid = dead_pid()
    original = tmp_path / "app.20260101_000000_000000.jsonl"
    original.write_text("".join(json.dumps({"data": {"i": i}}) + "\n" for i in range(10)))
    half = tmp_path / f"{original.name}.gz.{pid}.tmp"
    half.write_bytes(gzip.compress(original.read_bytes())[:20])
    async with hub_for(FileSink(tmp_path / "app.jsonl", rotate_bytes="1 MB", compress="gzip")):
        pass
    assert not half.exists()
    assert not original.exists()
    assert numbers(read_lines(original.with_name(original.name + ".gz"))) == list(range(10))


# -- the loop is sacred -------------------------------------------------------------------------


async def test_only_the_append_runs_on_the_loop_and_events_hop_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the loop thread the sink makes exactly two system calls per write (the append and the
    fstat that notices a deleted file) and at most one lstat more (a moved file; at most every
    MOVE_CHECK_S, and at the flush), one write per batch or two for a batch split at a
    rotation; every other file system call (open, rename, fsync, gzip, retention) is in a
    thread, one hop per event, none per batch."""
    import telemetry.sinks.file as file_module

    monkeypatch.setattr(file_module, "SLOW_WRITE_S", math.inf)  # a slow disk is tested apart
    loop_thread = threading.get_ident()
    on_loop: list[str] = []

    def called_from_a_sink() -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if "telemetry/sinks/" in frame.f_code.co_filename:
                return True
            frame = frame.f_back
        return False

    for name in ("open", "write", "fsync", "rename", "replace", "stat", "lstat", "fstat", "scandir",
                 "unlink", "mkdir", "ftruncate", "utime"):  # fmt: skip
        real = getattr(os, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            if threading.get_ident() == loop_thread and called_from_a_sink():
                on_loop.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(os, name, spy)
    hops = 0
    real_run_sync = anyio.to_thread.run_sync

    async def counting(*args: Any, **kw: Any) -> Any:
        nonlocal hops
        hops += 1
        return await real_run_sync(*args, **kw)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    writes = 0
    real_write = AppendFile.write

    def counting_write(self: AppendFile, data: Any) -> int:
        nonlocal writes
        writes += 1
        return real_write(self, data)

    monkeypatch.setattr(AppendFile, "write", counting_write)
    path = tmp_path / "app.jsonl"
    sink = FileSink(path, rotate_bytes="8 KB", compress="gzip", keep=3)
    async with hub_for(sink, batch_size=32) as hub:
        await emit(hub, range(2000))
    h = handler(hub.stats())
    assert [c for c in on_loop if c != "lstat"] == ["write", "fstat"] * writes
    # Each lstat follows a write's fstat, but for the one of the flush.
    looks = [i for i, c in enumerate(on_loop) if c == "lstat"]
    assert 1 <= len(looks) <= writes + 1
    assert all(on_loop[i - 1] in ("fstat", "lstat") for i in looks)
    assert h.batches <= writes == h.sink_counters["loop_writes"]
    assert writes <= h.batches + h.sink_counters["rotations"]
    assert "thread_writes" not in h.sink_counters
    # open + each rotation + one hub.flush() + close + stopping the housekeeping thread
    assert hops == 1 + h.sink_counters["rotations"] + 1 + 2


async def test_a_busy_loop_gets_every_batch_written_without_a_thread_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another task keeps the loop busy (it never idles), a flood of awaited calls in
    blocking mode is written batch after batch on the loop: no write waits for a thread, so
    none waits for the GIL's switch interval, and the busy task runs between batches."""
    import telemetry.sinks.file as file_module

    monkeypatch.setattr(file_module, "SLOW_WRITE_S", math.inf)  # a slow disk is tested apart
    path = tmp_path / "app.jsonl"
    done = asyncio.Event()
    turns = 0

    async def busy() -> None:
        nonlocal turns
        while not done.is_set():
            sum(range(1000))
            turns += 1
            await asyncio.sleep(0)

    async with hub_for(FileSink(path), batch_size=256) as hub:
        other = asyncio.create_task(busy())
        for i in range(20_000):
            await hub.log("info", "line", i=i)
        await hub.flush()
        done.set()
        await other
    h = handler(hub.stats())
    assert h.written == 20_000 and h.dropped == {}
    assert h.batches >= 20_000 // 256
    assert h.sink_counters["loop_writes"] == h.batches
    assert "thread_writes" not in h.sink_counters
    assert turns >= h.batches
    assert numbers(read_lines(path)) == list(range(20_000))


async def test_a_slow_write_sends_the_next_ones_to_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write on the loop slower than SLOW_WRITE_S (a disk throttling its writers) sends the
    batches that follow to a thread until the back-off ends; nothing is lost or reordered."""
    import telemetry.sinks.file as file_module

    monkeypatch.setattr(file_module, "SLOW_WRITE_S", -1.0)  # every write counts as slow
    # ... and as having slept in the kernel (what a platform without per-thread counts assumes)
    monkeypatch.setattr(file_module, "_sleeps", itertools.count().__next__)
    monkeypatch.setattr(file_module, "SLOW_WRITE_BACKOFF_S", 3600.0)
    path = tmp_path / "app.jsonl"
    async with hub_for(FileSink(path), batch_size=10) as hub:
        for k in range(5):
            await emit(hub, range(k * 10, k * 10 + 10))
    stats = hub.stats()
    assert_accounted(stats)
    c = handler(stats).sink_counters
    assert (c["loop_writes"], c["slow_writes"], c["thread_writes"]) == (1, 1, 4)
    assert numbers(read_lines(path)) == list(range(50))


async def test_a_write_slow_only_by_the_clock_stays_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that took long without the thread sleeping in the kernel (preempted on a busy
    machine, not a throttled disk) is not slow: the batches that follow stay on the loop,
    where a thread would cost a wait for the GIL each."""
    import telemetry.sinks.file as file_module

    require(file_module._RUSAGE_THREAD is not None, "no per-thread getrusage here (Linux has)")
    monkeypatch.setattr(file_module, "SLOW_WRITE_S", -1.0)  # every write too long by the clock
    path = tmp_path / "app.jsonl"
    async with hub_for(FileSink(path), batch_size=10) as hub:
        for k in range(5):
            await emit(hub, range(k * 10, k * 10 + 10))
    stats = hub.stats()
    assert_accounted(stats)
    c = handler(stats).sink_counters
    assert (c.get("loop_writes"), c.get("slow_writes"), c.get("thread_writes")) == (5, None, None)
    assert numbers(read_lines(path)) == list(range(50))


@pytest.mark.parametrize("why", ["larger than LOOP_WRITE_MAX_BYTES", "fsync per batch"])
async def test_writes_the_loop_must_not_take_go_to_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """A batch over LOOP_WRITE_MAX_BYTES, or any batch with fsync="batch" (an fsync takes
    milliseconds), is written in a thread; the file is the same."""
    import telemetry.sinks.file as file_module

    options: dict[str, Any] = {}
    if why == "fsync per batch":
        options["fsync"] = "batch"
    else:
        monkeypatch.setattr(file_module, "LOOP_WRITE_MAX_BYTES", 100)
    path = tmp_path / "app.jsonl"
    async with hub_for(FileSink(path, **options), batch_size=10) as hub:
        await emit(hub, range(30))
    counters = handler(hub.stats()).sink_counters
    assert "loop_writes" not in counters
    assert counters["thread_writes"] == handler(hub.stats()).batches
    assert numbers(read_lines(path)) == list(range(30))


class StepRecorder:
    """A format around a real one that records how many signals each loop step encoded."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.slice_size = inner.slice_size
        self.now = 0
        self.steps: list[int] = []

    def encode_batch(self, batch: Any) -> bytes:
        """Count, then encode with the real format."""
        self.now += len(batch)
        return bytes(self.inner.encode_batch(batch))

    async def watch(self, stop: asyncio.Event) -> None:
        """Once per loop iteration: close the step, start the next."""
        while not stop.is_set():
            self.steps.append(self.now)
            self.now = 0
            await asyncio.sleep(0)


@pytest.mark.parametrize("fmt", ["text", "logfmt", "json"])
async def test_a_large_batch_is_encoded_a_slice_per_loop_step(tmp_path: Path, fmt: str) -> None:
    """A batch larger than the format's slice_size is encoded over several loop steps, none
    encoding more than slice_size signals; the file holds every line, in order."""
    path = tmp_path / "app.log"
    sink = FileSink(path, format=fmt)
    recorder = StepRecorder(sink.format)
    sink.format = recorder
    n = recorder.slice_size * 4
    async with hub_for(sink, buffer_size=n, batch_size=n) as hub:
        for i in range(n):
            await hub.log("info", "line", i=i)
        stop = asyncio.Event()
        watcher = asyncio.create_task(recorder.watch(stop))
        await hub.flush()
        stop.set()
        await watcher
    assert handler(hub.stats()).batches == 1
    assert sum(recorder.steps) + recorder.now == n
    assert max(recorder.steps) <= recorder.slice_size
    assert len([s for s in recorder.steps if s]) >= 4
    lines = path.read_bytes().splitlines()
    assert len(lines) == n
    if fmt == "json":
        assert [json.loads(x)["data"]["i"] for x in lines] == list(range(n))
    else:
        assert all(f"i={i}".encode() in line for i, line in enumerate(lines))


# -- many processes -----------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from telemetry import Telemetry
    from telemetry.sinks import FileSink

    async def main(path, n):
        sink = FileSink(path)
        handlers = {"f": {"sink": sink, "mode": "blocking", "buffer_size": 4096}}
        async with Telemetry(handlers=handlers) as hub:
            for i in range(n):
                await hub.log("info", "line", i=i, pad="x" * (i % 301))
        h = hub.stats().handlers["f"]
        print(json.dumps({"pid": os.getpid(), "path": str(sink.path),
                          "emitted": h.emitted, "written": h.written, "dropped": h.dropped}))

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def run_writers(tmp_path: Path, path: str, n: int, count: int = 4) -> list[dict[str, Any]]:
    """Start ``count`` processes, each with its own hub, appending ``n`` signals to ``path``."""
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    procs = [
        subprocess.Popen([sys.executable, str(script), path, str(n)], stdout=subprocess.PIPE)
        for _ in range(count)
    ]
    reports = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        reports.append(json.loads(out))
    return reports


def test_four_processes_append_to_one_file_without_interleaving(tmp_path: Path) -> None:
    """4 processes x 50,000 signals into ONE file: every line is valid JSON, none is lost."""
    path = tmp_path / "shared.jsonl"
    reports = run_writers(tmp_path, str(path), 50_000)
    assert all(r["written"] == r["emitted"] == 50_000 and not r["dropped"] for r in reports)
    lines = read_lines(path)
    assert len(lines) == 200_000
    by_pid: dict[int, list[int]] = {}
    for line in lines:
        by_pid.setdefault(line["pid"], []).append(line["data"]["i"])
    assert sorted(by_pid) == sorted(r["pid"] for r in reports)
    assert all(seq == list(range(50_000)) for seq in by_pid.values())


def test_four_processes_with_pid_in_the_name_get_their_own_files(tmp_path: Path) -> None:
    """path='app-{pid}.jsonl': each of 4 processes writes its own file, holding its own lines."""
    reports = run_writers(tmp_path, str(tmp_path / "app-{pid}.jsonl"), 5_000)
    files = sorted(tmp_path.glob("app-*.jsonl"))
    assert files == sorted(tmp_path / f"app-{r['pid']}.jsonl" for r in reports)
    for r in reports:
        lines = read_lines(Path(r["path"]))
        assert {line["pid"] for line in lines} == {r["pid"]}
        assert numbers(lines) == list(range(5_000))


def _forked_child(sink: FileSink) -> None:
    import asyncio

    async def run() -> None:
        async with hub_for(sink) as hub:
            await emit(hub, range(3))

    asyncio.run(run())


def test_a_sink_made_before_a_fork_opens_under_the_childs_pid(tmp_path: Path) -> None:
    """A {pid} sink built in a parent (a preloading server) writes the child's own file."""
    sink = FileSink(tmp_path / "w-{pid}.jsonl")
    child = multiprocessing.get_context("fork").Process(target=_forked_child, args=(sink,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert [p.name for p in tmp_path.iterdir()] == [f"w-{child.pid}.jsonl"]


async def test_concurrent_writes_rotate_without_losing_lines(tmp_path: Path) -> None:
    """Three tasks writing batches to one rotating sink at once (as several handler workers
    would): a rotation never closes the file under another write; every line arrives once."""
    path = tmp_path / "app.jsonl"
    sink = FileSink(path, rotate_bytes=3000)
    await sink.open()

    async def writer(start: int) -> None:
        for k in range(start, 2000, 3 * 8):
            await sink.write([make_signal(data={"i": i}) for i in range(k, min(k + 8, 2000))])

    async with anyio.create_task_group() as tg:
        for w in range(3):
            tg.start_soon(writer, w * 8)
    await sink.aclose()
    assert sink.counters["rotations"] >= 10
    seen = sorted(n for p in [*rotated_files(tmp_path), path] for n in numbers(read_lines(p)))
    assert seen == list(range(2000))


async def test_sync_mode_rotates_too(tmp_path: Path) -> None:
    """A synchronous handler (debugging) writes inline through write_sync, rotation included."""
    path = tmp_path / "app.jsonl"
    async with Telemetry(
        handlers={"f": {"sink": FileSink(path, rotate_bytes=1000), "sync": True}}
    ) as hub:
        for i in range(40):
            hub.log_nowait("info", "line", i=i)
    assert_accounted(hub.stats())
    assert all(p.stat().st_size <= 1000 for p in [*rotated_files(tmp_path), path])
    assert [n for p in [*rotated_files(tmp_path), path] for n in numbers(read_lines(p))] == list(
        range(40)
    )


# -- files moved, deleted, folders gone ---------------------------------------------------------


async def test_a_file_moved_away_by_logrotate_is_followed(tmp_path: Path) -> None:
    """After an external rename the next batch still lands (in the moved file) and the sink
    reopens the path for the following ones: nothing lost, nothing duplicated."""
    path = tmp_path / "app.jsonl"
    moved = tmp_path / "app.jsonl.1"
    sink = FileSink(path)
    async with hub_for(sink) as hub:
        await emit(hub, range(100))
        path.rename(moved)
        await emit(hub, range(100, 101))
        await emit(hub, range(101, 200))
    stats = hub.stats()
    assert_accounted(stats)
    assert numbers(read_lines(moved)) == list(range(101))
    assert numbers(read_lines(path)) == list(range(101, 200))
    assert handler(stats).sink_counters["reopened"] == 1
    assert handler(stats).dropped == {}


def test_whether_the_file_was_moved_is_looked_at_most_once_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a write the path is looked up (lstat) only once its interval has passed on the
    file's clock: a move is noticed at the first write after that, or at once by
    check_moved; the fstat that notices a deletion and gives the size runs after every
    write."""
    now = [100.0]
    looks: list[str] = []
    real_lstat = os.lstat

    def counting_lstat(p: Any, *args: Any, **kw: Any) -> Any:
        looks.append(str(p))
        return real_lstat(p, *args, **kw)

    monkeypatch.setattr(os, "lstat", counting_lstat)
    path = tmp_path / "app.jsonl"
    raw = AppendFile(str(path), 0o600, check_every=0.005, clock=lambda: now[0])
    try:
        raw.write(b"a\n")
        assert looks == [] and raw.size == 2  # opened by the path just now: no look yet
        now[0] += 0.005
        raw.write(b"b\n")
        assert looks == [str(path)] and not raw.moved
        path.rename(tmp_path / "moved.jsonl")
        now[0] += 0.004
        raw.write(b"c\n")  # within the interval: not looked at, lands in the moved file
        assert len(looks) == 1 and not raw.moved and raw.size == 6
        now[0] += 0.001
        raw.write(b"d\n")
        assert len(looks) == 2 and raw.moved
        raw.write(b"e\n")  # once moved, no need to look again
        assert len(looks) == 2
    finally:
        raw.close()
    assert (tmp_path / "moved.jsonl").read_bytes() == b"a\nb\nc\nd\ne\n"
    again = AppendFile(str(path), 0o600, check_every=60.0, clock=lambda: now[0])
    try:
        path.rename(tmp_path / "moved2.jsonl")
        assert again.check_moved() and again.moved  # at once, whatever the interval
    finally:
        again.close()


async def test_a_move_is_noticed_at_a_flush_however_long_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush looks at once whether the file was moved: with writes never looking (an
    interval longer than the test), a move between two flushes is followed at the second,
    nothing lost, nothing duplicated."""
    import telemetry.sinks._append as append_module

    monkeypatch.setattr(append_module, "MOVE_CHECK_S", math.inf)
    path = tmp_path / "app.jsonl"
    moved = tmp_path / "app.jsonl.1"
    async with hub_for(FileSink(path)) as hub:
        await emit(hub, range(50))
        path.rename(moved)
        await emit(hub, range(50, 100))  # written to the moved file; the flush notices
        await emit(hub, range(100, 150))
    stats = hub.stats()
    assert_accounted(stats)
    assert numbers(read_lines(moved)) == list(range(100))
    assert numbers(read_lines(path)) == list(range(100, 150))
    assert handler(stats).sink_counters["reopened"] == 1


@pytest.mark.parametrize("what", ["file", "folder"])
async def test_a_deleted_file_or_folder_is_recreated_and_the_batch_retried(
    tmp_path: Path, what: str
) -> None:
    """A batch written into a deleted file is noticed (link count 0), retried into a recreated
    file (and folder): every signal emitted after the deletion is in the new file."""
    folder = tmp_path / "logs"
    path = folder / "app.jsonl"
    async with hub_for(FileSink(path)) as hub:
        await emit(hub, range(50))
        if what == "file":
            path.unlink()
        else:
            shutil.rmtree(folder)
        await emit(hub, range(50, 100))
    stats = hub.stats()
    assert_accounted(stats)
    h = handler(stats)
    assert numbers(read_lines(path)) == list(range(50, 100))
    assert h.dropped == {}
    assert h.errors == h.retries == 1


def chattr(flag: str, path: Path) -> bool:
    """Set or clear a file attribute (``+i``: immutable, even for root); whether it worked."""
    tool = shutil.which("chattr")
    return tool is not None and subprocess.run([tool, flag, str(path)]).returncode == 0


async def test_a_refused_rotation_keeps_writing_to_the_current_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename the file system refuses (an immutable folder: EPERM even for root) is counted
    and warned about; the signals go on into the current file and rotation resumes later."""
    import telemetry.sinks.file as file_module

    monkeypatch.setattr(file_module, "ROTATION_RETRY_S", 0.0)
    folder = tmp_path / "logs"
    path = folder / "app.jsonl"
    async with hub_for(FileSink(path, rotate_bytes=2000), batch_size=8) as hub:
        await emit(hub, range(10))
        require(chattr("+i", folder), "needs chattr and a file system with the immutable flag")
        try:
            await emit(hub, range(10, 100))
        finally:
            chattr("-i", folder)
        refused = handler(hub.stats()).sink_counters["rotation_errors"]
        await emit(hub, range(100, 150))
    stats = hub.stats()
    assert_accounted(stats)
    assert refused >= 1
    assert handler(stats).dropped == {}
    assert handler(stats).sink_counters["rotations"] >= 1
    everything = [n for p in [*rotated_files(folder), path] for n in numbers(read_lines(p))]
    assert everything == list(range(150))


_CRASHER = textwrap.dedent(
    """
    import asyncio, os, sys
    from telemetry import Telemetry
    from telemetry.sinks import FileSink

    real_open = FileSink._open_file

    def open_or_crash(self, path):
        if self.counters["rotations"]:  # renamed, old file closed, new one not open yet
            os._exit(17)
        return real_open(self, path)

    FileSink._open_file = open_or_crash

    async def main(path):
        sink = FileSink(path, rotate_bytes=20_000)
        async with Telemetry(handlers={"f": {"sink": sink, "mode": "blocking"}}) as hub:
            for k in range(1000):
                for i in range(k * 10, k * 10 + 10):
                    await hub.log("info", "line", i=i)
                await hub.flush()
                print(hub.stats().handlers["f"].written, flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


def test_a_crash_between_rename_and_reopen_loses_nothing_written(tmp_path: Path) -> None:
    """A process killed after a rotation's rename, before the new file is open: every signal
    it had reported written is in the finished file (followed by the lines of the batch in
    progress that fitted before the rotation), in order."""
    script = tmp_path / "crash.py"
    script.write_text(_CRASHER)
    path = tmp_path / "app.jsonl"
    proc = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True)
    assert proc.returncode == 17, proc.stderr
    reported = int(proc.stdout.split()[-1])
    assert not path.exists()
    [finished] = rotated_files(tmp_path)
    got = numbers(read_lines(finished))
    assert got == list(range(len(got)))
    assert len(got) >= reported


# -- faults: disk full, permission lost -----------------------------------------------------------


class Disk:
    """A small file system the test can fill up and free again."""

    kind = "tmpfs"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._filler = root / "filler"

    def fill(self, leave: int) -> None:
        """Take all the space but about ``leave`` bytes."""
        with open(self._filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while f.write(b"\0" * 65536):
                pass
        size = self._filler.stat().st_size
        os.truncate(self._filler, max(0, size - leave))

    def free(self) -> None:
        """Give the space back."""
        self._filler.unlink()


class InjectedDisk(Disk):
    """The same, by refusing writes under ``root`` beyond a budget (when mounting failed)."""

    kind = "injected"

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(root)
        self.budget: int | None = None
        real = os.write

        def write(fd: int, data: Any) -> int:
            if self.budget is None or not os.readlink(f"/proc/self/fd/{fd}").startswith(str(root)):
                return real(fd, data)
            if self.budget <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            n = real(fd, bytes(data)[: self.budget])
            self.budget -= n
            return n

        monkeypatch.setattr(os, "write", write)

    def fill(self, leave: int) -> None:
        self.budget = leave

    def free(self) -> None:
        self.budget = None


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    """A real 1 MiB tmpfs (we are root). Where it cannot be mounted, CI fails (the real disk
    is what CI must test); on a developer's machine an injected ENOSPC stands in."""
    root = tmp_path / "small"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)], capture_output=True
    )
    if mounted.returncode != 0:
        reason = f"tmpfs mount failed ({mounted.stderr.strip()!r})"
        if IN_CI:
            pytest.fail(f"CI must run every test on a real full disk, but: {reason}")
        print(f"{reason}: using an injected ENOSPC")
        yield InjectedDisk(root, monkeypatch)
        return
    try:
        yield Disk(root)
    finally:
        if subprocess.run(["umount", str(root)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(root)], capture_output=True)


def test_a_torn_write_on_a_full_disk_is_taken_back(small_disk: Disk) -> None:
    """A batch cut short by ENOSPC leaves the file as it was before the batch."""
    path = small_disk.root / "app.jsonl"
    f = AppendFile(str(path), 0o600)
    try:
        f.write(b"first line\n")
        small_disk.fill(leave=10_000)
        with pytest.raises(OSError, match="No space left") as info:
            f.write(b"x" * 99 + b"\n" * 1 + b"y" * 200_000 + b"\n")
        assert info.value.errno == errno.ENOSPC
        assert path.read_bytes() == b"first line\n"
    finally:
        f.close()


async def test_disk_full_is_counted_and_writing_resumes_when_space_returns(
    small_disk: Disk, capfd: pytest.CaptureFixture[str]
) -> None:
    """ENOSPC: failed batches are retried then counted as sink_error, one rate-limited warning
    says why, and writing resumes once space returns. written + dropped == emitted, and the
    file holds exactly the written lines, each whole."""
    path = small_disk.root / "logs" / "app.jsonl"
    sink = FileSink(path)
    async with hub_for(sink, max_retries=2, retry_backoff=0.001, batch_size=64) as hub:
        await emit(hub, range(10))
        small_disk.fill(leave=64 * 1024)
        await emit(hub, range(10, 2010), pad=100)  # ~ 400 KB into 64 KB of room
        full = handler(hub.stats())
        small_disk.free()
        await emit(hub, range(2010, 2510))
    stats = hub.stats()
    assert_accounted(stats)
    h = handler(stats)
    assert full.dropped["sink_error"] > 0
    assert full.errors > 0
    assert full.written > 10
    assert h.written == full.written + 500
    lines = read_lines(path)
    assert len(lines) == h.written
    assert len({line["uid"] for line in lines}) == len(lines)
    assert numbers(lines)[-500:] == list(range(2010, 2510))
    # Warnings from the loop's thread reach stderr through a writer thread of their own.
    assert _warner.wait_written()
    err = capfd.readouterr().err
    assert err.count(f"cannot write to {str(path)!r} (ENOSPC") == 1
    assert f"file sink writes to {str(path)!r} again" in err


async def test_a_split_batch_cut_short_by_a_full_disk_is_resumed_not_repeated(
    small_disk: Disk,
) -> None:
    """A batch split at rotate_bytes whose second part finds the disk full: the retries go on
    from the first line not written, so once space returns every line is in the files once."""
    path = small_disk.root / "app.jsonl"
    sink = FileSink(path, rotate_bytes=2000)
    async with hub_for(sink, max_retries=1000, retry_backoff=0.005) as hub:
        small_disk.fill(leave=4096)  # one page: room for the first file, not the second
        for i in range(40):
            hub.log_nowait("info", "line", i=i)
        for _ in range(2000):  # until the write has failed once, then give the space back
            if handler(hub.stats()).errors:
                break
            await asyncio.sleep(0.005)
        assert handler(hub.stats()).errors > 0
        small_disk.free()
        await hub.flush()
    stats = hub.stats()
    assert_accounted(stats)
    assert handler(stats).written == 40
    files = [*rotated_files(small_disk.root), path]
    assert [n for p in files for n in numbers(read_lines(p))] == list(range(40))


_LOCKED_OUT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from telemetry import Telemetry
    from telemetry.sinks import FileSink

    async def main(folder):
        path = os.path.join(folder, "app.jsonl")
        options = {"mode": "blocking", "max_retries": 1, "retry_backoff": 0.001}
        async with Telemetry(handlers={"f": {"sink": FileSink(path), **options}}) as hub:
            async def emit(numbers):
                for i in numbers:
                    await hub.log("info", "line", i=i)
                await hub.flush()
            await emit(range(100))
            os.rename(path, path + ".1")  # logrotate moves the file...
            os.chmod(folder, 0o500)       # ...and the folder is no longer writable
            await emit(range(100, 101))   # lands in the moved file; the move is noticed
            await emit(range(101, 201))   # the reopen is refused: EACCES
            os.chmod(folder, 0o700)
            await emit(range(201, 301))   # permission is back: reopened, written
        h = hub.stats().handlers["f"]
        print(json.dumps({"emitted": h.emitted, "written": h.written, "dropped": h.dropped}))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_permission_lost_is_counted_and_writing_resumes(tmp_path: Path) -> None:
    """EACCES on reopen (root without CAP_DAC_OVERRIDE, for real): the batches are counted as
    sink_error, the rest lands in the moved and the reopened file, exactly."""
    setpriv = shutil.which("setpriv")
    require(setpriv is not None and os.geteuid() == 0, "needs root and setpriv (util-linux)")
    assert setpriv is not None
    script = tmp_path / "locked.py"
    script.write_text(_LOCKED_OUT)
    folder = tmp_path / "logs"
    folder.mkdir()
    drop = "--bounding-set=-dac_override,-dac_read_search"
    proc = subprocess.run(
        [setpriv, drop, sys.executable, str(script), str(folder)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dropped"] == {"sink_error": 100}
    assert report["written"] + 100 == report["emitted"] == 301
    assert "EACCES" in proc.stderr
    assert numbers(read_lines(folder / "app.jsonl.1")) == list(range(101))
    assert numbers(read_lines(folder / "app.jsonl")) == list(range(201, 301))


# -- symbolic links -----------------------------------------------------------------------------


async def test_a_symlink_at_the_log_path_is_refused(tmp_path: Path) -> None:
    """A symbolic link at the log path is not followed: opening fails with a ConfigError that
    names the option to allow it, and the file it points to is left as it was."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "app.jsonl").symlink_to(victim)
    hub = Telemetry(handlers={"file": FileSink(tmp_path / "app.jsonl")})
    with pytest.raises(ConfigError, match=r"symbolic link.*follow_symlinks=True"):
        await hub.open()
    assert victim.read_text() == "precious\n"


async def test_a_symlink_put_at_the_log_path_later_is_not_written_through(tmp_path: Path) -> None:
    """A link put in place of the log file while the sink runs (after a move) is noticed and
    refused at the reopen: nothing reaches the file it points to, and the signals are
    counted."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = tmp_path / "app.jsonl"
    sink = FileSink(path)
    hub = Telemetry(handlers={"file": {"sink": sink, "max_retries": 0}})
    async with hub:
        await hub.log("info", "before")
        await hub.flush()
        path.rename(tmp_path / "moved.jsonl")
        path.symlink_to(victim)
        await hub.log("info", "noticed the move")  # written to the moved file
        await hub.flush()
        await hub.log("info", "would go through the link")
    stats = hub.stats().handlers["file"]
    assert victim.read_text() == "precious\n"
    assert stats.written == 2 and stats.dropped == {"sink_error": 1}
    assert stats.emitted == stats.written + stats.dropped_total


async def test_follow_symlinks_writes_through_a_link(tmp_path: Path) -> None:
    """follow_symlinks=True is the opt-in: the lines go to the file the link points to."""
    target = tmp_path / "real.jsonl"
    (tmp_path / "app.jsonl").symlink_to(target)
    sink = FileSink(tmp_path / "app.jsonl", follow_symlinks=True)
    async with Telemetry(handlers={"file": sink}) as hub:
        await hub.log("info", "through the link")
    assert "through the link" in target.read_text()


def test_gzip_does_not_follow_a_symlink(tmp_path: Path) -> None:
    """Compressing a finished file never reads through, nor writes through, a link."""
    victim = tmp_path / "victim.txt"
    victim.write_text("secret\n")
    src = tmp_path / "app.20260101_000000_000000.jsonl"
    src.symlink_to(victim)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        gzip_file(src, fsync=False)
    assert not (tmp_path / (src.name + ".gz")).exists()
    assert victim.read_text() == "secret\n"
