"""logfmt: ``time=... level=info id=... msg="..." user=42`` (one line per signal)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._signal import Signal
from ._safe import safe_repr
from .text import escape, format_time

__all__ = ["LogfmtFormat"]


def _quote(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = v if isinstance(v, str) else safe_repr(v)
    s = escape(s.replace("\\", "\\\\").replace('"', '\\"'))
    if not s or any(c in s for c in ' ="'):
        return f'"{s}"'
    return s


def _key(k: object) -> str:
    s = str(k)
    return "".join(c if (c.isalnum() or c in "._-") else "_" for c in s) or "_"


class LogfmtFormat:
    """Format signals as logfmt lines; ``data`` keys are written as they are, ``ctx`` keys too."""

    name = "logfmt"

    def format(self, sig: Signal) -> str:
        """One signal as one logfmt line."""
        pairs: list[tuple[str, Any]] = [
            ("time", format_time(sig.inst)),
            ("level", sig.level),
            ("kind", sig.kind),
        ]
        for key in ("id", "ns", "msg", "trace_id", "span_id", "duration_ns"):
            val = getattr(sig, key)
            if val is not None:
                pairs.append((key, val))
        pairs.extend(sig.data.items())
        pairs.extend(sig.ctx.items())
        if sig.error is not None:
            pairs.append(("error.type", sig.error.type))
            pairs.append(("error.message", sig.error.message))
        return " ".join(f"{_key(k)}={_quote(v)}" for k, v in pairs)

    def encode_batch(self, batch: Sequence[Signal]) -> bytes:
        """The batch as logfmt lines, UTF-8."""
        return "".join([self.format(s) + "\n" for s in batch]).encode("utf-8", "backslashreplace")
