"""The benchmark harness cannot rot: the tiny version of every scenario (``--quick``), for
aiotelemetry, the floor and a few peers, twice in alternating order.

Only the shape and the behaviour of the harness are checked (every run counted and verified,
loss reported, ratios and targets computed, files written); never a timing.
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.libs import LIBS, Lib, compile_loops
from bench.report import TARGETS, TITLES
from bench.run import SYSTEMS, main
from bench.scenarios import SCENARIOS
from tests.conftest import needs

LIBS_RUN = (
    "aiotelemetry",
    "aiotelemetry-blocking",
    "aiotelemetry-sync",
    "floor",
    "logging-queue-tuned",
    "structlog",
    "off",
)
PNG = b"\x89PNG\r\n\x1a\n"
#: Systems that never lose a signal in these runs.
LOSSLESS = (
    "aiotelemetry-blocking",
    "aiotelemetry-sync",
    "floor",
    "logging-queue-tuned",
    "structlog",
)


def _numbers(obj: Any) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    return []


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The bench group (uv sync --group bench).
    needs("matplotlib", "orjson", "structlog", "uvicorn", "httpx", "websockets")
    out = tmp_path_factory.mktemp("bench")
    assert main(["--quick", "--reps", "2", "--libs", ",".join(LIBS_RUN), "--out", str(out)]) == 0
    return out


def _report(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((out / "results.json").read_text())
    return report


def test_every_scenario_runs_every_planned_system_each_repetition(quick_run: Path) -> None:
    """Each scenario gives each of its systems one result per repetition: numbers, or n/a
    with a reason; never an error."""
    report = _report(quick_run)
    assert set(report["results"]) == set(SCENARIOS)
    for scenario, rows in report["results"].items():
        assert set(rows) == {k for k in SYSTEMS[scenario] if k in LIBS_RUN}, scenario
        for key, runs in rows.items():
            assert [r["rep"] for r in runs] == [0, 1], (scenario, key)
            for res in runs:
                assert "error" not in res, (scenario, key, res)
                if "na" in res:
                    assert res["na"], (scenario, key)
                    continue
                nums = _numbers({k: v for k, v in res.items() if k != "lib_notes"})
                assert nums, (scenario, key)
                assert all(math.isfinite(x) for x in nums), (scenario, key, res)


def test_the_order_alternates(quick_run: Path) -> None:
    """The second repetition runs the systems in the reverse order of the first."""
    for scenario, orders in _report(quick_run)["orders"].items():
        assert orders[1] == orders[0][::-1], scenario


def test_every_end_to_end_run_is_counted_and_verified(quick_run: Path) -> None:
    """Every file-writing run reports lines, valid lines and loss, and loss is what is
    missing from the files; the lossless set-ups lose nothing."""
    results = _report(quick_run)["results"]
    for scenario in ("flood", "paced", "single", "fields0", "fields20", "bind", "span", "fanout"):
        for key, runs in results[scenario].items():
            for res in runs:
                if "na" in res:
                    continue
                assert res["valid"] <= res["lines"], (scenario, key, res)
                assert res["lost"] == res["expected"] - res["valid"], (scenario, key, res)
                assert res["bytes_per_line"] > 0, (scenario, key)
                if key in LOSSLESS:
                    assert res["lost"] == 0, (scenario, key, res)


def test_aiotelemetry_loss_is_explained_by_its_own_counts(quick_run: Path) -> None:
    """With the defaults, whatever is missing from the file was counted as dropped, and
    emitted == written + dropped."""
    for res in _report(quick_run)["results"]["flood"]["aiotelemetry"]:
        assert res["accounted"] is True, res
        assert res["lost"] == res["reported_dropped"], res


def test_the_slow_sink_and_threads_runs_account_for_every_call(quick_run: Path) -> None:
    """Slow sink: each call written or reported dropped; threads: calls counted from 4 threads."""
    results = _report(quick_run)["results"]
    for res in results["slow"]["aiotelemetry"]:
        assert res["unaccounted"] == 0, res
        assert res["accounted"] is True, res
    for res in results["threads"]["aiotelemetry-blocking"]:
        assert res["n"] > 0 and res["lost"] == 0, res


def test_refused_is_measured_beside_an_empty_await(quick_run: Path) -> None:
    """The refused scenario measures, in the same process, an empty await and the ratio."""
    for res in _report(quick_run)["results"]["refused"]["aiotelemetry"]:
        assert res["empty_await_us"] > 0 and res["refused_us"] > 0, res
        assert res["vs_empty_await"] == pytest.approx(res["refused_us"] / res["empty_await_us"])
        assert res["lines"] == 0, res


def test_the_app_scenario_drives_a_real_server(quick_run: Path) -> None:
    """uvicorn answered the clients' requests and messages, and every call was written."""
    rows = _report(quick_run)["results"]["app"]
    for key in ("off", "aiotelemetry"):
        for res in rows[key]:
            assert res["requests"] > 0 and res["messages"] > 0, res
            assert res["errors"] == 0, res
            assert res["http"]["p99_ms"] >= res["http"]["p50_ms"] > 0, res
    for res in rows["aiotelemetry"]:
        assert res["valid"] == res["calls"] > 0, res


def test_memory_runs_write_every_signal(quick_run: Path) -> None:
    """The memory scenario measures each of its set-ups (they write everything: none lost),
    with a peak that is a real reading: never below the RSS it started from, and no lower
    once the close has run (the peak of a longer time, whatever a later reading of VmHWM
    says: see bench.scenarios.memory)."""
    rows = _report(quick_run)["results"]["memory"]
    assert set(rows) == {k for k in SYSTEMS["memory"] if k in LIBS_RUN} != set()
    for key, runs in rows.items():
        assert len(runs) == 2, key
        for res in runs:
            assert res["lost"] == 0, (key, res)
            assert 0 <= res["growth_mb"] <= res["growth_incl_close_mb"], (key, res)


def test_markdown_has_targets_seeds_and_a_table_per_scenario(quick_run: Path) -> None:
    """results.md names the machine, the systems with their guarantees, every target (met or
    not), the seed comparisons, and has a table per scenario with aiotelemetry's row."""
    text = (quick_run / "results.md").read_text()
    assert "Machine:" in text
    assert "## Systems, configurations and guarantees" in text
    for desc, _ in TARGETS:
        assert desc in text, desc
    assert "## The seed's comparisons, reproduced" in text
    sections = text.split("\n## ")
    for scenario in SCENARIOS:
        title = TITLES[scenario]
        body = next(s for s in sections if s.startswith(title))
        assert "| aiotelemetry (defaults) |" in body or "| aiotelemetry (blocking) |" in body


def test_charts_are_pngs_linked_from_the_report(quick_run: Path) -> None:
    """A PNG chart per scenario, linked from results.md."""
    text = (quick_run / "results.md").read_text()
    charts = sorted((quick_run / "charts").glob("*.png"))
    assert {p.stem for p in charts} >= set(SCENARIOS)
    for p in charts:
        assert p.read_bytes()[:8] == PNG, p
        assert f"(charts/{p.name})" in text


#: fapilog leaves its file open after its own shutdown; that is counted against it here, not
#: against the test that happens to run when the file is collected.
_LEAKS_A_FILE = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.mark.parametrize(
    "key", [pytest.param(k, marks=[_LEAKS_A_FILE] if k == "fapilog" else []) for k in sorted(LIBS)]
)
async def test_every_system_compiles_its_loops_and_they_run(key: str, tmp_path: Path) -> None:
    """Every adapter's call sources compile for every field count; opened, its compiled
    loops are there, and one accepted call writes one line carrying the message and the
    fields while a refused call writes nothing."""
    from bench.libs import FIELDS, Cfg, record_ok

    dist = LIBS[key].dist
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        if dist == "picologging" and sys.version_info >= (3, 13):  # no wheels there (pyproject)
            pytest.skip("picologging has no wheels for CPython 3.13 and later")
        needs(dist)  # the bench group (uv sync --group bench): skipped where an install lacks it
    needs("orjson")  # the adapters render with it (the bench group)
    lines = await _one_call_and_one_refused(LIBS[key](Cfg(tmp_path)))
    gc.collect()  # whatever the system left open is found now, in its own test
    if key == "off":  # no telemetry at all: nothing is written
        assert lines == []
    else:
        assert len(lines) == 1 and record_ok(json.loads(lines[0]), FIELDS[3]), lines


async def _one_call_and_one_refused(lib: Lib) -> list[bytes]:
    """Compile ``lib``'s sources for every field count; open it, run its compiled ``refused``
    and ``one`` loops once each, close it; the lines it wrote."""
    from bench.libs import FIELDS

    for fields in FIELDS.values():
        for src in (lib.call_src(fields), lib.refused_src(fields)):
            compile(f"async def f():\n    {src}\n", "<test>", "exec")
    await lib.open()
    try:
        loops = compile_loops(lib, FIELDS[3])
        threaded = lib.thread_call_src(FIELDS[3]) is not None
        assert {"flood", "timed", "refused", "one"} <= set(loops)
        assert ("thread_flood" in loops) == threaded
        if "refused" not in lib.na:  # a system without levels refuses nothing
            await loops["refused"](1)
        await loops["one"]()
    finally:
        await lib.close()
    return [line for p in lib.output_files() for line in p.read_bytes().splitlines()]


def test_the_report_can_be_written_again_from_the_json(quick_run: Path, tmp_path: Path) -> None:
    """``--from-json`` runs nothing and writes the same results.md and charts again."""
    assert main(["--from-json", str(quick_run / "results.json"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.md").read_text() == (quick_run / "results.md").read_text()
    assert {p.name for p in (tmp_path / "charts").glob("*.png")} == {
        p.name for p in (quick_run / "charts").glob("*.png")
    }
