"""Encoders that turn batches of signals into bytes: JSON lines, readable text, logfmt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .._errors import ConfigError
from .._signal import Signal
from ._safe import HUGE_VALUE_CHARS, HugeValue, Pieces
from .json import JsonFormat
from .logfmt import LogfmtFormat
from .text import TextFormat

__all__ = [
    "FORMATS",
    "HUGE_VALUE_CHARS",
    "Format",
    "HugeValue",
    "JsonFormat",
    "LogfmtFormat",
    "Pieces",
    "TextFormat",
    "make_format",
]


class Format(Protocol):
    """What a sink needs from a format: a name, and a batch turned into bytes without raising."""

    name: str
    #: Most signals a sink should encode in one step of the event loop: one or two milliseconds'
    #: worth of ordinary signals (sinks make slices smaller for larger ones).
    slice_size: int

    def encode_batch(self, batch: Sequence[Signal]) -> bytes:
        """Encode the batch; one line per signal for line-oriented formats."""
        ...

    # Optional, both or neither: ``encode_slice(batch, huge)`` is ``encode_batch`` that raises
    # HugeValue for a signal with a string value (or message) over ``huge`` characters (JSON
    # lines: ``bytes`` too, and a list, tuple or dict by its items, see ``is_huge``), and
    # ``pieces(value, *, msg=False) -> Pieces | None`` writes such a value a piece at a time,
    # so that sinks can let the loop run in between (see `Pieces`). A format without
    # them writes every signal in one go.


FORMATS = ("json", "logfmt", "text")


def make_format(name: str, *, param: str = "format") -> Format:
    """A new format instance by name (``"json"``, ``"text"`` or ``"logfmt"``)."""
    if name == "json":
        return JsonFormat()
    if name == "text":
        return TextFormat()
    if name == "logfmt":
        return LogfmtFormat()
    raise ConfigError.choice(param, name, FORMATS)
