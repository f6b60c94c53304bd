"""``bench/otlp.py`` cannot rot: each configuration at a tiny size, checked for what it counts
(records received, losses), never for a timing."""

from __future__ import annotations

from tests.conftest import needs

needs("httpx", "opentelemetry.proto", "opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")

import pytest

from bench import otlp


@pytest.mark.parametrize("config", otlp.CONFIGS)
async def test_each_configuration_exports_every_record(config: str) -> None:
    """Every configuration delivers all of a small run to the receiver and reports figures."""
    res = await otlp.one_run(config, 300)
    assert (res["received"], res["lost"]) == (300, 0)
    assert res["rate"] > 0 and res["p50_us"] > 0 and res["lag_us"] >= -1000
    if config == "aiotelemetry":
        assert (res["written"], res["dropped"]) == (300, {})
