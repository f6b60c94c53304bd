"""Helpers for testing code that emits signals, usable with or without pytest.

``capture_signals()`` collects every signal emitted while it is active, synchronously, as it is
emitted (no queue, no flush race); ``make_signal()`` builds a signal by hand for sink tests.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ._signal import LABEL_OF, ProcessInfo, Signal, new_uid, parse_level

__all__ = ["make_signal"]


def make_signal(
    msg: str | None = "test", *, level: str | int = "info", kind: str = "log", **fields: Any
) -> Signal:
    """A signal with sensible defaults (now, a fresh uid, this host and pid); any field can be
    given, for example ``make_signal("hi", id="x", data={"k": 1})``."""
    base: dict[str, Any] = {
        "inst": time.time_ns(),
        "uid": new_uid(),
        "kind": kind,
        "level": LABEL_OF.get(parse_level(level), str(level)),
        "msg": msg,
        "host": ProcessInfo.host,
        "pid": os.getpid(),
    }
    base.update(fields)
    return Signal(**base)
