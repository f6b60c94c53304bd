"""``bench/core_path.py`` cannot rot: each of its runs at a tiny size, checked for what it
counts (lines, drops, accounting), never for a timing."""

from __future__ import annotations

import pytest

from bench import core_path


@pytest.mark.parametrize("config", core_path.CONFIGS)
async def test_each_configuration_floods_without_loss(config: str) -> None:
    """Every configuration of the comparison writes every signal and reports its figures."""
    res = await core_path.one_run(config, 2_000)
    assert res["lost"] == 0
    assert res["p50_us"] > 0 and res["rate"] > 0


async def test_the_flood_writes_a_line_per_call() -> None:
    """The defaults' flood: as many lines on disk as calls, nothing dropped."""
    res = await core_path.flood(5_000)
    assert (res["lines"], res["written"], res["dropped"]) == (5_000, 5_000, {})


async def test_the_stuck_sink_run_accounts_for_every_call() -> None:
    """Into a sink that never returns: nothing written, everything counted as dropped."""
    res = await core_path.stuck(2_000)
    assert res["accounted"] and res["written"] == 0
    assert res["emitted"] == 2_000 == sum(res["dropped"].values())
    assert set(res["dropped"]) <= {"stalled", "timeout"}
