"""Make any value encodable: the fallback for what an encoder refuses.

The fast path encodes signals as they are; only when that raises (a lone surrogate, an int of
thousands of digits, a reference cycle, a key that is not a string, an object whose ``__str__``
or ``__repr__`` raises) is the offending signal rebuilt with `repair_signal`, so that one
bad value costs only itself: it becomes a marked placeholder (or, for text that is not valid
Unicode, the text with the bad code points as visible ``\\udcff`` escapes), the rest of the
signal and of the batch is written, and the sink counts the repair (``bad_values``).

Unknown objects are written as their ``repr``, once per object however many sinks write it
(`safe_repr` remembers the last few thousand), cut to `MAX_REPR` characters; a type
whose ``repr`` once took longer than `SLOW_REPR_S` is written as ``<Type object>`` from
then on, so that a slow ``__repr__`` costs the event loop once, not once per signal.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Generator, Sequence
from typing import Any

from msgspec.structs import replace

from .._signal import ErrorInfo, Frame, Location, Signal
from ._repr import BOUNDED, bounded_repr

__all__ = [
    "HUGE_VALUE_CHARS",
    "MAX_REPR",
    "NEVER_HUGE",
    "SLOW_REPR_S",
    "HugeValue",
    "LineFormat",
    "Pieces",
    "Repairs",
    "enc_hook",
    "is_huge",
    "placeholder_signal",
    "repair_signal",
    "repr_checked",
    "safe_repr",
    "safe_signal",
    "safe_text",
    "safe_value",
]

_MAX_DEPTH = 32
#: The longest ``repr`` written for an unknown object; a longer one is cut and marked.
MAX_REPR = 2000
#: How much of a container's (string's, bytes') ``repr`` is built at most: one longer than
#: this is cut and marked with its type and length instead of the characters left.
_SEEN_REPR = 4 * MAX_REPR
#: A type whose ``repr`` took longer than this is not asked for its ``repr`` again.
SLOW_REPR_S = 0.02
#: An int wider than this many bits cannot be written in decimal by default (Python refuses
#: more than 4,300 digits); 14,000 bits are about 4,214 digits.
_MAX_INT_BITS = 14_000
_REPR_CACHE_MAX = 1024
#: Types whose ``repr`` is slow only when the object is big: never written as placeholders.
_SLOW_BY_SIZE = frozenset({list, tuple, dict, set, frozenset, bytes, bytearray, str})
_SCALARS = (float, bool, type(None))

#: A string value longer than this is written a piece at a time by sinks that let the loop run
#: in between (`LineFormat.encode_slice`). The dearest strings to write (every character
#: an escape, in the text format) take about a millisecond per 10,000 characters.
HUGE_VALUE_CHARS = 16 * 1024
#: A list, tuple or dict counts as huge with more than ``limit // HUGE_ITEMS_DIVISOR`` items
#: (512 for `HUGE_VALUE_CHARS`): an item costs more than a character (a list of a thousand
#: lists of a thousand ints takes about 15 ms in JSON).
HUGE_ITEMS_DIVISOR = 32
_TEXTS = frozenset({str, bytes, bytearray})


def is_huge(value: Any, limit: int) -> bool:
    """Whether a string, ``bytes``, list, tuple or dict value (the caller checked its type)
    counts as huge against a ``limit`` in characters: a container by its number of items."""
    return len(value) > (limit if type(value) in _TEXTS else limit // HUGE_ITEMS_DIVISOR)


#: The ``huge`` limit that no string reaches: `LineFormat.format` raises nothing.
NEVER_HUGE = sys.maxsize


class HugeValue(Exception):
    """A string value (or message) is longer than the ``huge`` limit that
    `LineFormat.encode_slice` was given: that signal is for ``pieces``."""


#: A huge value being encoded a piece at a time (``Format.pieces``): the generator yields the
#: value's encoded inside, each piece a bounded amount of work, and returns the bytes that
#: open and close it (quotes, brackets: the opening may depend on all of the value). Raises
#: when the value cannot be written as it is (a lone surrogate): the signal is then encoded
#: the usual way, which repairs it.
Pieces = Generator[bytes, None, tuple[bytes, bytes]]

# id(obj) -> (obj, text): the object is kept alive while it is remembered, so its id cannot
# be reused by another object meanwhile.
_reprs: OrderedDict[int, tuple[object, str, bool]] = OrderedDict()
_slow_types: set[type] = set()


def repr_checked(obj: object) -> tuple[str, bool]:
    """The text `safe_repr` writes for ``obj``, and whether it is the real ``repr``."""
    key = id(obj)
    hit = _reprs.get(key)
    if hit is not None and hit[0] is obj:
        return hit[1], hit[2]
    kind = type(obj)
    if kind in _slow_types:
        return f"<{kind.__qualname__} object>", True
    ok = whole = True
    t0 = time.perf_counter()
    try:
        # A container, string or bytes: only as much of its repr as is written (and a few
        # times more, so that a repr a little over the limit still says how much was left).
        text, whole = bounded_repr(obj, _SEEN_REPR) if kind in BOUNDED else (repr(obj), True)
    except Exception:
        text, ok = f"<unrepresentable {kind.__qualname__}>", False
    # A big container, string or bytes is slow by its size, not by its type: the next list
    # is not (nor is one of a thousand lists of a thousand items, which is small on top).
    if time.perf_counter() - t0 > SLOW_REPR_S and kind not in _SLOW_BY_SIZE:
        _slow_types.add(kind)
    if not whole:
        text = text[:MAX_REPR] + f"...<more: {kind.__name__} of length {len(obj)}>"  # type: ignore[arg-type]
    elif len(text) > MAX_REPR:
        text = text[:MAX_REPR] + f"...<{len(text) - MAX_REPR} more characters>"
    text = safe_text(text)
    _reprs[key] = (obj, text, ok)
    if len(_reprs) > _REPR_CACHE_MAX:
        _reprs.popitem(last=False)
    return text, ok


def safe_repr(obj: object) -> str:
    """``repr(obj)``, at most `MAX_REPR` characters, computed once per object; a marked
    placeholder when ``__repr__`` raises or its type is known to be slow."""
    return repr_checked(obj)[0]


class Repairs:
    """What an encoder replaced: a base for formats and encoders, whose `repr` and
    `enc_hook` count the objects whose ``repr`` failed in `repaired`; the sink
    moves the count into its ``bad_values`` counter after each batch."""

    def __init__(self) -> None:
        #: Values replaced (and signals re-encoded with bad values replaced) since the sink
        #: last took the count.
        self.repaired = 0

    def repr(self, obj: object) -> str:
        """`safe_repr`, counting a placeholder as a repair."""
        text, ok = repr_checked(obj)
        if not ok:
            self.repaired += 1
        return text

    def enc_hook(self, obj: object) -> str:
        """msgspec ``enc_hook``: unknown objects as `repr`."""
        return self.repr(obj)


class LineFormat(Repairs):
    """A format that writes each signal as a ``str`` from `format` (text, logfmt): the
    batch is joined and encoded at once, and only a batch that fails is redone line by line,
    each bad signal with its values replaced (counted in `repaired`)."""

    def format(self, sig: Signal, huge: int = NEVER_HUGE) -> str:
        """One signal as a line, without the trailing newline; `HugeValue` if a string
        value or the message is longer than ``huge`` characters."""
        raise NotImplementedError

    def encode_slice(self, batch: Sequence[Signal], huge: int) -> bytes:
        """`encode_batch`, unless a signal has a string value (or message) longer than
        ``huge`` characters: then `HugeValue`, so that the caller can write that one a
        piece at a time (``pieces``). Costs a length check per string value."""
        fmt = self.format
        try:
            return "".join([fmt(s, huge) + "\n" for s in batch]).encode("utf-8")
        except HugeValue:
            raise
        except Exception:  # a bad value: the usual way replaces it
            return self.encode_batch(batch)

    def encode_batch(self, batch: Sequence[Signal]) -> bytes:
        """The batch as lines, UTF-8, one ``\\n`` after each."""
        fmt = self.format
        try:
            return "".join([fmt(s) + "\n" for s in batch]).encode("utf-8")
        except Exception:  # a bad value: a lone surrogate, a huge int, a key's __str__ raising
            return "".join([self._line(s) for s in batch]).encode("utf-8", "backslashreplace")

    def _line(self, sig: Signal) -> str:
        """One line, the signal's bad values replaced if it cannot be written as it is."""
        try:
            line = self.format(sig) + "\n"
            line.encode("utf-8")
            return line
        except Exception:
            pass
        self.repaired += 1
        try:
            return self.format(repair_signal(sig)) + "\n"
        except Exception:
            return self.format(placeholder_signal(sig)) + "\n"


def enc_hook(obj: object) -> str:
    """msgspec ``enc_hook``: anything msgspec cannot encode natively is written as its repr."""
    return safe_repr(obj)


def safe_text(text: object) -> str:
    """``text`` if it is valid Unicode, else with lone surrogates as ``\\udcff`` escapes
    (anything but a string: its ``str``, or a placeholder)."""
    if type(text) is not str:
        return _safe_key(text) if not isinstance(text, str) else safe_text(str.__str__(text))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _safe_int(value: int) -> int | str:
    if -(2**_MAX_INT_BITS) < value < 2**_MAX_INT_BITS:
        return value
    return f"<int of {value.bit_length()} bits>"


def _safe_key(key: object) -> str:
    if type(key) is str:
        return safe_text(key)
    try:
        text = str(key)
    except Exception:
        return f"<unrepresentable {type(key).__qualname__}>"
    return safe_text(str.__str__(text)) if isinstance(text, str) else "<bad __str__>"


def safe_value(obj: Any, _seen: frozenset[int] = frozenset(), _depth: int = 0) -> Any:
    """A copy of ``obj`` made only of values every format can write.

    Strings become valid Unicode, ints too wide for decimal become ``"<int of N bits>"``,
    mappings get ``str`` keys, sequences and sets become lists, cycles become ``"<cycle>"``,
    nesting deeper than 32 becomes ``"<too deep>"`` and anything else its ``repr``.
    """
    if isinstance(obj, str):
        return safe_text(obj)
    if isinstance(obj, int) and not isinstance(obj, bool):
        return _safe_int(obj)
    if isinstance(obj, _SCALARS):
        return obj
    if _depth >= _MAX_DEPTH:
        return "<too deep>"
    oid = id(obj)
    if oid in _seen:
        return "<cycle>"
    if isinstance(obj, dict):
        seen = _seen | {oid}
        return {_safe_key(k): safe_value(v, seen, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        seen = _seen | {oid}
        return [safe_value(v, seen, _depth + 1) for v in obj]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return safe_repr(bytes(obj))
    return safe_repr(obj)


def _opt(text: str | None) -> str | None:
    return None if text is None else safe_text(text)


def _error(err: ErrorInfo | None) -> ErrorInfo | None:
    if err is None:
        return None
    frames = tuple(
        Frame(file=safe_text(f.file), line=f.line, function=safe_text(f.function))
        for f in err.frames
    )
    return ErrorInfo(
        type=safe_text(err.type),
        message=safe_text(err.message),
        frames=frames,
        cause=_error(err.cause),
    )


def repair_signal(sig: Signal) -> Signal:
    """The same signal with every field made writable: text as valid Unicode, ``data`` and
    ``ctx`` through `safe_value`."""
    loc = sig.location
    if loc is not None:
        loc = Location(file=safe_text(loc.file), line=loc.line, function=safe_text(loc.function))
    return replace(
        sig,
        kind=safe_text(sig.kind),
        level=safe_text(sig.level),
        id=_opt(sig.id),
        ns=_opt(sig.ns),
        msg=_opt(sig.msg),
        data=safe_value(sig.data),
        ctx=safe_value(sig.ctx),
        error=_error(sig.error),
        location=loc,
        host=safe_text(sig.host),
        thread=_opt(sig.thread),
        task=_opt(sig.task),
        trace_id=_opt(sig.trace_id),
        span_id=_opt(sig.span_id),
        parent_id=_opt(sig.parent_id),
    )


def safe_signal(sig: Signal) -> Signal:
    """Alias of `repair_signal`, kept for sinks written against it."""
    return repair_signal(sig)


def placeholder_signal(sig: Signal) -> Signal:
    """The last resort for a signal that cannot be written even repaired: its time, uid,
    kind and level, and a message saying so."""
    return replace(
        repair_signal(replace(sig, data={}, ctx={}, error=None)),
        msg="<signal could not be encoded>",
    )
