"""logfmt: ``time=... level=info id=... msg="..." user=42`` (one line per signal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._signal import Signal
from ._safe import NEVER_HUGE, HugeValue, LineFormat, Pieces, safe_repr
from .text import STR_PIECE, TimeFormatter, escape

__all__ = ["LogfmtFormat"]

#: Keys remembered once made safe: the keys of an application's signals are a few dozen words.
_KEY_CACHE_MAX = 4096
_OPTIONAL = ("id", "ns", "msg", "trace_id", "span_id", "duration_ns")


def _quote(v: Any, as_text: Callable[[object], str] = safe_repr, huge: int = NEVER_HUGE) -> str:
    if type(v) is str:
        if len(v) > huge:
            raise HugeValue
        s = v
    elif v is None:
        return ""
    elif isinstance(v, bool):
        return "true" if v else "false"
    elif isinstance(v, (int, float)):
        return repr(v)
    else:
        s = as_text(v)
    if "\\" in s or '"' in s:
        s = s.replace("\\", "\\\\").replace('"', '\\"')
    s = escape(s)
    if not s or " " in s or "=" in s or '"' in s:
        return f'"{s}"'
    return s


def _quote_pieces(text: str) -> Pieces:
    # _quote, a piece at a time: each step of it handles a character on its own.
    quoted = False
    for i in range(0, len(text), STR_PIECE):
        part = escape(text[i : i + STR_PIECE].replace("\\", "\\\\").replace('"', '\\"'))
        if not quoted and (" " in part or "=" in part or '"' in part):
            quoted = True
        yield part.encode("utf-8")
    return (b'"', b'"') if quoted else (b"", b"")


def _safe_key(k: object) -> str:
    s = str(k)
    return "".join(c if (c.isalnum() or c in "._-") else "_" for c in s) or "_"


class LogfmtFormat(LineFormat):
    """Format signals as logfmt lines; ``data`` keys are written as they are, ``ctx`` keys too."""

    name = "logfmt"
    #: 384 ordinary signals format in about 1.3 ms (see ``Format.slice_size``).
    slice_size = 384

    def __init__(self) -> None:
        self._time = TimeFormatter()
        self._keys: dict[object, str] = {}
        super().__init__()

    def _key(self, k: object) -> str:
        # Making a key safe looks at every character; the same few keys come back every line.
        try:
            return self._keys[k]
        except KeyError:
            pass
        except TypeError:  # an unhashable key: rare, not worth remembering
            return _safe_key(k)
        safe = _safe_key(k)
        if len(self._keys) < _KEY_CACHE_MAX and type(k) is str:
            self._keys[k] = safe
        return safe

    def pieces(self, value: Any, *, msg: bool = False) -> Pieces | None:
        """A huge string value (or message) as it is written, a piece at a time (see
        `Pieces`); ``None`` for anything else."""
        return _quote_pieces(value) if type(value) is str else None

    def format(self, sig: Signal, huge: int = NEVER_HUGE) -> str:
        """One signal as one logfmt line; `HugeValue` if a string
        value or the message is longer than ``huge`` characters."""
        parts = [f"time={self._time(sig.inst)}", f"level={_quote(sig.level)}"]
        parts.append(f"kind={_quote(sig.kind)}")
        for key in _OPTIONAL:
            val = getattr(sig, key)
            if val is not None:
                parts.append(f"{key}={_quote(val, safe_repr, huge)}")
        key_of, as_text = self._key, self.repr
        for k, v in sig.data.items():
            parts.append(f"{key_of(k)}={_quote(v, as_text, huge)}")
        for k, v in sig.ctx.items():
            parts.append(f"{key_of(k)}={_quote(v, as_text, huge)}")
        if sig.error is not None:
            parts.append(f"error.type={_quote(sig.error.type)}")
            parts.append(f"error.message={_quote(sig.error.message)}")
        return " ".join(parts)
