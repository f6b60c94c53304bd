"""The service benchmark (``bench/service.py``) cannot rot: a one-second run of each set-up, one
round, checked for what it counts (requests served, records written, collections, ratios),
never for a timing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.service import AGAINST, main, parse_wrk, summarise
from bench.service_app import SETUPS
from tests.conftest import needs, require

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8000/items/1
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.90ms  512.00us  12.00ms   90.00%
    Req/Sec     6.60k   200.00     6.90k    80.00%
  Latency Distribution
     50%    4.80ms
     75%    5.00ms
     90%    5.50ms
     99%  950.00us
  6607 requests in 1.00s, 1.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   6607.12
Transfer/sec:      1.00MB
"""


def test_wrk_output_is_read_with_its_units() -> None:
    """Requests/s, the count, p50 and p99 in ms whatever unit wrk printed, and errors."""
    res = parse_wrk(WRK_OUTPUT)
    assert res.pop("p99_ms") == pytest.approx(0.95)
    assert res == {"rate": 6607.12, "done": 6607, "p50_ms": 4.8, "non_2xx": 3, "socket_errors": ""}


@pytest.fixture(scope="module")
def service_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    # The bench group (uv sync --group bench).
    needs("fastapi", "uvicorn", "structlog", "orjson", "opentelemetry.instrumentation")
    require(shutil.which("wrk") is not None, "wrk missing: apt-get install wrk")
    out = tmp_path_factory.mktemp("service")
    assert main(["--seconds", "1", "--rounds", "1", "--out", str(out)]) == 0
    report: dict[str, object] = json.loads((out / "service.json").read_text())
    # The table of every set-up, then the one of aiotelemetry's set-ups against the SDK's.
    main_table, _, against = (out / "service.md").read_text().rpartition("\n\n|")
    assert main_table.count("\n| ") == len(SETUPS) + 1
    assert against.startswith(" set-up | against |") and against.count("\n| ") == len(AGAINST)
    return report


def test_every_set_up_serves_and_loses_nothing(service_run: dict[str, object]) -> None:
    """Each set-up served requests (or messages) and wrote every record it should: a request
    span and a log per request, a log per message and a span per connection; or is reported
    not available, with the reason; FastAPI's native telemetry on aiotelemetry's providers
    loses no span."""
    summary, runs = service_run["summary"], service_run["runs"]
    assert isinstance(summary, dict) and set(summary) == set(SETUPS)
    assert isinstance(runs, dict)
    for setup, row in summary.items():
        assert "na" not in row, (setup, row)
        assert row["served"] > 0 and row["rate"] > 0, setup
        if setup in ("bare", "passthrough", "ws-bare", "otel-providers"):
            continue
        assert row["records"] > 0, setup
        (run,) = runs[setup]
        if setup in ("native-ours", "native-ours-traces"):
            # OpenTelemetry's spans ended on the loop wait for room (parked): none is lost.
            assert run["reported"]["dropped"] == {}, run["reported"]
            assert row["lost"] == 0, (setup, row)
        elif setup == "aiotelemetry-otlp":
            # What a loaded machine may cost an awaited call (a sink past max_wait) is counted:
            # every record expected is written or dropped under a reason, exactly.
            dropped = sum(run["reported"]["dropped"].values())
            assert run["records"] + dropped == run["expected"], (setup, run["reported"])
        elif not setup.startswith("native-sdk"):  # the SDK's losses are the benchmark's
            assert row["lost"] == 0, (setup, row)


def test_ratios_and_collections_are_reported(service_run: dict[str, object]) -> None:
    """Ratios to bare within the round (bare's own is 1), and the server's full collections."""
    runs = service_run["runs"]
    assert isinstance(runs, dict)
    summary = summarise(runs)
    assert summary["bare"]["x_bare"] == 1.0 and summary["ws-bare"]["x_bare"] == 1.0
    for setup in ("aiotelemetry", "aiotelemetry-nomw", "ws-aiotelemetry"):
        assert summary[setup]["x_bare"] > 0
        (run,) = runs[setup]
        assert run["gc_full"] >= 0 and run["gc_longest_ms"] >= 0 and run["gc_young"] >= 0
        assert run["reported"]["dropped"] == {} and run["reported"]["written"] == run["records"]
    # aiotelemetry's providers against the SDK's, within the round.
    for setup, peer in AGAINST.items():
        (run,), (other,) = runs[setup], runs[peer]
        vs = summary[setup]["against"]
        assert vs["setup"] == peer
        assert vs["x_rate"] == [run["rate"] / other["rate"]]
        assert vs["x_p99"] == [run["p99_ms"] / other["p99_ms"]]


@pytest.mark.parametrize("setup", ["aiotelemetry", "ws-aiotelemetry"])
def test_the_in_process_count_measures_and_loses_nothing(setup: str) -> None:
    """``bench/service_gc.py`` drives the app in-process: it reports CPU per request, the
    collections and the objects a request keeps alive in flight, and the hub wrote all it
    took."""
    needs("fastapi")
    from bench.service_gc import one

    row = one(setup, 400)
    assert row["cpu_us"] > 0 and row["young_per_10k"] >= 0 and row["promoted"] >= 0
    if setup == "aiotelemetry":
        assert row["alive"] > 0  # the framework's own objects, at least
    reported = row["reported"]
    assert reported["dropped"] == {} and reported["written"] == reported["emitted"] > 400


def test_the_instruction_count_reports_per_request_and_the_ratio(tmp_path: Path) -> None:
    """``bench/service_instructions.py`` counts the server's instructions under callgrind for
    the requests it served in the window (as the server reports them), and gives bare's ratio
    to itself as 1."""
    needs("fastapi", "uvicorn")
    require(shutil.which("wrk") is not None, "wrk missing: apt-get install wrk")
    require(shutil.which("valgrind") is not None, "valgrind missing: apt-get install valgrind")
    from bench.service_instructions import main as count

    assert count(["--seconds", "1", "--min", "0", "--setups", "bare", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "service_instructions.json").read_text())["rows"]
    bare = rows["bare"]
    assert bare["units"] > 0 and bare["instructions"] > 0
    assert bare["per_unit"] == bare["instructions"] / bare["units"]
    (line,) = [
        x
        for x in (tmp_path / "service_instructions.md").read_text().splitlines()
        if "bare FastAPI" in x
    ]
    assert "| 1.00 | +0 |" in line
