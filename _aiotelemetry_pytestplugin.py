"""aiotelemetry's pytest plugin, registered through the ``pytest11`` entry point.

Every pytest run in an environment where aiotelemetry is installed loads this module, so it
lives outside the ``telemetry`` package (importing ``telemetry.anything`` runs
``telemetry/__init__.py``) and imports nothing of aiotelemetry until a test requests its
fixture: a run that does not use it neither pays for nor can be broken by aiotelemetry, and
anything that goes wrong there is that fixture's error, reported for the tests that use it.

Fixtures:

- ``tel_capture``: a :class:`telemetry.testing.Captured` holding every signal emitted during the
  test, captured synchronously as it is emitted; match by value, regular expression or
  predicate, read ``tel_capture.text``, lower a level with ``tel_capture.at_level("debug")``,
  start a new phase with ``clear()`` or ``take()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from telemetry.testing import Captured

__all__ = ["tel_capture"]


@pytest.fixture
def tel_capture() -> Iterator[Captured]:
    """Every signal emitted during the test, as it is emitted; see ``telemetry.testing``."""
    from telemetry.testing import capture_signals

    with capture_signals() as captured:
        yield captured
