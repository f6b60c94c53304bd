"""``bench/huge_values.py`` cannot rot: a small value through each file format, and the
ordinary-batch figures, checked for what they count, never for a timing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import huge_values
from tests.conftest import needs


@pytest.mark.parametrize("shape", ["str", "bytes", "list-1M", "dict-100k"])
async def test_each_shape_is_exported_over_otlp(shape: str, tmp_path: Path) -> None:
    """One value of each shape is logged and exported as one record to a real receiver."""
    needs("httpx", "opentelemetry.proto")
    from tests.sinks.otlp_receiver import receiving

    value = huge_values.shapes(0.05)[shape]()
    async with receiving() as rx:
        _, _, _, written = await huge_values.one(
            huge_values.make_sink("otlp", tmp_path, rx.endpoint), value
        )
    assert written == 1 and len(rx.log_records()) == 1


@pytest.mark.parametrize("sink", ["file-json", "file-logfmt", "file-text"])
@pytest.mark.parametrize("shape", ["str", "bytes", "dict-100k"])
async def test_each_shape_is_written_through_each_file_format(
    sink: str, shape: str, tmp_path: Path
) -> None:
    """One value of each shape is logged and written as one line, and the longest callback is
    reported."""
    value = huge_values.shapes(0.05)[shape]()
    wall, cpu, lag, written = await huge_values.one(
        huge_values.make_sink(sink, tmp_path, None), value
    )
    assert written == 1
    assert wall > 0 and cpu >= 0 and lag >= 0
    lines = (tmp_path / f"out.{sink.removeprefix('file-')}").read_bytes().splitlines()
    assert len(lines) == 1 and b"huge" in lines[0]


def test_ordinary_batches_report_a_cost_per_format(capsys: pytest.CaptureFixture[str]) -> None:
    """``--ordinary`` prints a positive cost per signal for each of the three formats, and
    for OTLP log records and spans in each encoding."""
    needs("httpx", "opentelemetry.proto")
    huge_values.main(["--ordinary", "--repeat", "2"])
    rows = dict(line.split() for line in capsys.readouterr().out.splitlines()[1:])
    otlp = {f"otlp-{enc}-{what}" for enc in ("proto", "json") for what in ("logs", "spans")}
    assert set(rows) == {"json", "logfmt", "text", *otlp}
    assert all(float(cost) > 0 for cost in rows.values())
