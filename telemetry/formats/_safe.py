"""Make any value encodable: the fallback for what msgspec refuses.

The fast path encodes signals as they are; only when that raises (a reference cycle, a key that
is not a string, an object whose ``__repr__`` raises) is the offending signal rebuilt with
:func:`safe_signal`, so that one bad value never costs the rest of a batch.
"""

from __future__ import annotations

from typing import Any

from .._signal import Signal

__all__ = ["enc_hook", "safe_repr", "safe_signal", "safe_value"]

_MAX_DEPTH = 32
_SCALARS = (str, int, float, bool, type(None))


def safe_repr(obj: object) -> str:
    """``repr(obj)``, or a marked placeholder when ``__repr__`` itself raises."""
    try:
        return repr(obj)
    except Exception:
        return f"<unrepresentable {type(obj).__qualname__}>"


def enc_hook(obj: object) -> str:
    """msgspec ``enc_hook``: anything msgspec cannot encode natively is written as its repr."""
    return safe_repr(obj)


def safe_value(obj: Any, _seen: frozenset[int] = frozenset(), _depth: int = 0) -> Any:
    """A copy of ``obj`` made only of JSON-encodable values.

    Mappings get ``str`` keys, sequences and sets become lists, cycles become ``"<cycle>"``,
    nesting deeper than 32 becomes ``"<too deep>"`` and anything else its ``repr``.
    """
    if isinstance(obj, _SCALARS):
        return obj
    if _depth >= _MAX_DEPTH:
        return "<too deep>"
    oid = id(obj)
    if oid in _seen:
        return "<cycle>"
    if isinstance(obj, dict):
        seen = _seen | {oid}
        return {str(k): safe_value(v, seen, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        seen = _seen | {oid}
        return [safe_value(v, seen, _depth + 1) for v in obj]
    return safe_repr(obj)


def safe_signal(sig: Signal) -> Signal:
    """The same signal with ``data`` and ``ctx`` made encodable by :func:`safe_value`."""
    from msgspec.structs import replace

    return replace(sig, data=safe_value(sig.data), ctx=safe_value(sig.ctx))
