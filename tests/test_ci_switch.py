"""Reading the ``CI`` variable: what makes a missing receiver fail the suite instead of skip."""

from __future__ import annotations

import pytest

from tests.conftest import ci_switch


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("  ", False),
        ("0", False),
        ("false", False),
        ("False", False),
        ("no", False),
        ("OFF", False),
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("woodpecker", True),
    ],
)
def test_ci_is_read_as_a_switch(value: str | None, expected: bool) -> None:
    """CI=false (and 0, no, off, empty) is not CI; true, 1 or a CI system's name is."""
    assert ci_switch(value) is expected
