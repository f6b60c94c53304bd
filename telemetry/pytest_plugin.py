"""The pytest plugin, registered through the ``pytest11`` entry point.

Fixtures:

- ``tel_capture``: a :class:`telemetry.testing.Captured` holding every signal emitted during the
  test, captured synchronously as it is emitted; match by value, regular expression or
  predicate, read ``tel_capture.text``, lower a level with ``tel_capture.at_level("debug")``,
  start a new phase with ``clear()`` or ``take()``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import Captured, capture_signals


@pytest.fixture
def tel_capture() -> Iterator[Captured]:
    """Every signal emitted during the test, as it is emitted; see ``telemetry.testing``."""
    with capture_signals() as captured:
        yield captured
