"""The OpenTelemetry calls benchmark (``bench/otel_calls.py``) cannot rot: a tiny run replays
FastAPI's calls on aiotelemetry's providers, never checked for a timing."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "httpx", "opentelemetry.sdk", "opentelemetry.proto")

import pytest

from bench.otel_calls import measure

from .integrations.test_opentelemetry import installed  # noqa: F401 - the fixture


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("metrics", [True, False])
async def test_a_tiny_run_writes_four_spans_a_request_and_drops_none(metrics: bool) -> None:
    """Each replayed request is a server span and three operation spans, all written; each
    round reports a cost."""
    res = await measure(50, 2, metrics=metrics)
    assert res["written"] == 2 * 50 * 4
    assert res["dropped"] == {}
    assert len(res["us"]) == 2 and all(us > 0 for us in res["us"])


@pytest.mark.usefixtures("installed")
async def test_a_tiny_encoded_run_makes_protobuf_of_every_span() -> None:
    """With the encoding on, every span is written and the requests made of them are not
    empty."""
    res = await measure(20, 1, encode=True)
    assert res["written"] == 20 * 4
    assert res["dropped"] == {}
    assert res["bytes"] > 20 * 4 * 50  # ids, times and a name at least, per span
