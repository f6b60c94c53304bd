"""bench/metrics.py runs and reports what it says it measures (figures are not asserted)."""

from __future__ import annotations

from tests.conftest import needs

needs("opentelemetry.metrics", "opentelemetry.sdk")

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_metrics_benchmark_reports_costs_ratios_and_bounded_memory() -> None:
    """A small run prints both providers' costs with their ratio, and for many attribute sets
    the series held at the limit with the rest in the overflow series."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench/metrics.py"), "2000", "--sets=20000", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    for key in ("reused_attributes_ns", "new_mapping_per_call_ns"):
        c = r[key]
        assert c["aiotelemetry"] > 0 and c["otel_sdk"] > 0
        assert c["ratio"] == c["otel_sdk"] / c["aiotelemetry"]
    ours = r["memory"]["aiotelemetry"]
    assert ours["series"] == 2000
    assert ours["overflow_count"] == 20_000 - 1999
