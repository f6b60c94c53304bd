"""A tiny run of bench/callcost.py, so that the script cannot rot (no timing assertions)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_callcost_runs_and_reports_every_figure() -> None:
    """The script runs end to end on a small count and prints its three figures."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "callcost.py"), "2048"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    ).stdout
    assert re.search(r"allowed .* median [\d.]+ us", out)
    assert re.search(r"refused .* median [\d.]+ us", out)
    assert re.search(r"end-to-end to a file .*: [\d,]+ signals/s", out)
    assert len(re.findall(r"paced .*: median [\d.]+ us", out)) == 4
