"""The benchmark harness cannot rot: ``bench/run.py --quick`` for aiotelemetry and one peer.

Only the shape of the output is checked (files, tables, numbers present); never a timing.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench.report import TITLES
from bench.run import main
from bench.scenarios import SCENARIOS
from tests.conftest import require

LIBS = ("aiotelemetry", "logging-queue")
PNG = b"\x89PNG\r\n\x1a\n"


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
    for mod in ("matplotlib", "pythonjsonlogger"):
        require(importlib.util.find_spec(mod) is not None, f"{mod} missing: uv sync --group bench")
    out = tmp_path_factory.mktemp("bench")
    assert main(["--quick", "--libs", ",".join(LIBS), "--out", str(out)]) == 0
    return out


def test_every_scenario_has_a_result_per_library(quick_run: Path) -> None:
    """Each scenario gives each library numbers, or n/a with a reason; never an error."""
    report = json.loads((quick_run / "results.json").read_text())
    assert set(report["results"]) == set(SCENARIOS)
    for scenario, rows in report["results"].items():
        assert set(rows) == set(LIBS), scenario
        for lib, res in rows.items():
            assert "error" not in res, (scenario, lib, res)
            if "na" in res:
                assert res["na"], (scenario, lib)
                continue
            nums = _numbers(res)
            assert nums, (scenario, lib)
            assert all(math.isfinite(x) and x >= 0 for x in nums), (scenario, lib, res)
    # the scenarios every library has must have run for aiotelemetry
    for scenario in ("call", "refused", "throughput", "slow", "lag", "memory"):
        assert "na" not in report["results"][scenario]["aiotelemetry"], scenario


def test_throughput_verifies_every_line(quick_run: Path) -> None:
    """The end-to-end run counts and parses the written lines: all of them are there."""
    rows = json.loads((quick_run / "results.json").read_text())["results"]["throughput"]
    for lib, res in rows.items():
        assert res["n"] > 0, lib
        assert res["valid"] == res["lines"] == res["n"], (lib, res)


def test_slow_sink_accounting_is_recorded(quick_run: Path) -> None:
    """aiotelemetry's slow-sink run reports emitted == written + dropped from its own stats."""
    res = json.loads((quick_run / "results.json").read_text())["results"]["slow"]["aiotelemetry"]
    for variant in ("fast", "slow"):
        part = res[variant]
        assert part["accounted"] is True, part
        assert part["n"] == part["written"] + part["reported_dropped"], part


def test_markdown_has_a_table_per_scenario(quick_run: Path) -> None:
    """results.md names the machine and versions and has one table per scenario with numbers."""
    text = (quick_run / "results.md").read_text()
    assert "Machine:" in text
    assert "CPUs" in text
    assert "## Libraries and configurations" in text
    for title in TITLES.values():
        assert f"## {title}" in text
    sections = text.split("\n## ")
    for title in TITLES.values():
        body = next(s for s in sections if s.startswith(title))
        rows = [line for line in body.splitlines() if line.startswith("| aiotelemetry |")]
        assert rows, title
        if "n/a" not in rows[0]:
            assert any(ch.isdigit() for ch in rows[0]), title


def test_charts_are_pngs(quick_run: Path) -> None:
    """A PNG chart per scenario that produced figures, linked from results.md."""
    text = (quick_run / "results.md").read_text()
    charts = sorted((quick_run / "charts").glob("*.png"))
    assert {p.stem for p in charts} >= {"call", "refused", "throughput", "slow", "lag", "memory"}
    for p in charts:
        assert p.read_bytes()[:8] == PNG, p
        assert f"(charts/{p.name})" in text


def test_the_call_report_gives_the_pure_python_floor(quick_run: Path) -> None:
    """Scenario 1 records, once, what a bare awaited call and one that also builds a struct
    cost, and the report quotes both next to the table."""
    res = json.loads((quick_run / "results.json").read_text())["results"]["call"]
    floor = res["aiotelemetry"]["floor"]
    assert floor["bare"] > 0 and floor["built"] > 0, floor
    assert "floor" not in res["logging-queue"]
    assert "any pure-Python awaited call" in (quick_run / "results.md").read_text()
