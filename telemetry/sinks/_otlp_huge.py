"""OTLP records that carry huge values: encoded a piece at a time, and cut to fit a request.

The encoders write a record in one go, unless it carries a string or ``bytes`` value over
``HUGE_TEXT`` or containers of more than ``ITEMS_IN_ONE_GO`` items (``HugeRecord``, raised
before the work is done), or the record comes out larger than a request may be. That record
is made here instead, in three steps:

- `split` takes its big values out (strings and ``bytes`` over 128 characters, containers:
  what could make it long), leaving a record of the rest that the encoder writes as usual;
- `encode` writes each big value in pieces of bounded work (a string 256 Ki characters at
  a time, a container an item at a time, yielding between them so that the sink lets the
  loop run), within the bytes the request has left;
- the encoder puts the pieces into its record (appended as fields in protobuf, in the place of
  a token in JSON).

A value that does not fit is cut to what does: a string ends with `TRUNCATION_MARK`, ``bytes``
with its bytes, a list with one more item, the string ``"[truncated] N more"``, a map with one
more entry, ``"[truncated]"`` to ``"N more"``. The sink counts each value cut
(``counters["truncated"]``). A record whose other parts alone do not fit is still dropped
(``too_large``).

The two encodings differ only in how a piece is written and framed: a `Codec` says that.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from random import getrandbits
from typing import Any, Protocol

from msgspec.structs import replace

from .._signal import ErrorInfo, Signal
from ..formats._safe import safe_repr
from . import _otlp_map as m
from ._syslog_format import TRUNCATION_MARK

__all__ = [
    "MARK_ROOM",
    "TRUNCATION_MARK",
    "Codec",
    "Encoded",
    "Made",
    "Pieces",
    "Split",
    "encode",
    "split",
]

#: Characters of a string encoded per piece (about a tenth of a millisecond).
STR_PIECE = 256 * 1024
#: Bytes of a ``bytes`` value per piece (a multiple of 3: base64 pieces join up).
RAW_PIECE = 3 * 256 * 1024
#: Items of a container (weighed by their size) encoded between two pieces.
ITEMS_PIECE = 256
#: Strings and ``bytes`` longer than this, and containers, are what `split` takes out.
SMALL_TEXT = 128
#: Bytes kept aside for the mark of a value cut (and the framing around it).
MARK_ROOM = 96
_MAX_DEPTH = 32
_MARK_BYTES = TRUNCATION_MARK.encode("ascii")
_CONTAINERS = (Mapping, list, tuple, set, frozenset)
_RAW = (bytes, bytearray, memoryview)

#: A value encoded: its parts to join, and their size in bytes.
Encoded = tuple[list[bytes], int]
#: A record made here: its pieces, their size, and how many of its values were cut.
Made = tuple[list[bytes], int, int]
#: `encode`'s generator: yields ``None`` after each piece of work; returns the value
#: encoded and whether it was cut.
Pieces = Generator[None, None, tuple[list[bytes], int, bool]]


class Codec(Protocol):
    """How one encoding writes the parts of an ``AnyValue``."""

    #: Between two items of a list or map (``b","`` in JSON).
    sep: bytes
    #: The most bytes one character of a string takes, written (escaped in JSON).
    text_max: int

    def leaf(self, v: Any, seen: frozenset[int]) -> bytes:
        """``v`` as an ``AnyValue`` in one go (``HugeRecord`` if it is huge)."""
        ...

    def text(self, s: str) -> bytes:
        """A piece of a string, as it is written inside the string's value."""
        ...

    def raw(self, b: bytes | memoryview) -> bytes:
        """A piece of ``bytes`` (a multiple of 3 long unless it is the last)."""
        ...

    def raw_size(self, n: int) -> int:
        """The size ``n`` bytes are written in."""
        ...

    def raw_fit(self, room: int) -> int:
        """How many bytes (a multiple of 3) fit in ``room`` written."""
        ...

    def string(self, inside: Encoded) -> Encoded:
        """A string value around its inside."""
        ...

    def binary(self, inside: Encoded) -> Encoded:
        """A ``bytes`` value around its inside."""
        ...

    def array(self, items: Encoded) -> Encoded:
        """An array value around its items (each from `item`, separated)."""
        ...

    def kvlist(self, entries: Encoded) -> Encoded:
        """A map value around its entries (each from `entry`, separated)."""
        ...

    def item(self, value: Encoded) -> Encoded:
        """A value as an item of an array."""
        ...

    def entry(self, key: str, value: Encoded) -> Encoded:
        """A key and its value as an entry of a map."""
        ...


def encode(codec: Codec, v: Any, room: int, seen: frozenset[int] = frozenset()) -> Pieces:
    """``v`` as an ``AnyValue`` of at most ``room`` bytes (a value cut to fit ends with the
    mark), a bounded amount of work between two yields."""
    if isinstance(v, str):
        inside, cut = yield from _text(codec, str.__str__(v), room - 12)
        return (*codec.string(inside), cut)
    if isinstance(v, _RAW):
        inside, cut = yield from _raw(codec, v, room - 12)
        return (*codec.binary(inside), cut)
    if isinstance(v, _CONTAINERS) and len(seen) < _MAX_DEPTH and id(v) not in seen:
        return (yield from _items(codec, v, room - 12, seen))
    one = codec.leaf(v, seen)  # a scalar, "<too deep>", "<cycle>", a bounded repr
    return [one], len(one), False


def _text(codec: Codec, s: str, room: int) -> Generator[None, None, tuple[Encoded, bool]]:
    mark = codec.text(TRUNCATION_MARK)
    n = len(s)
    # Room for the mark only if the string might not fit: one that fits is never cut.
    limit = room if n * codec.text_max <= room else room - len(mark)
    parts: list[bytes] = []
    size = pos = 0
    while pos < n:
        step = min(STR_PIECE, n - pos)
        if step * codec.text_max > limit - size:
            # Near the end of the room: as many characters as surely fit, then again.
            step = (limit - size) // codec.text_max
            if step <= 0:
                break
        piece = codec.text(s[pos : pos + step])
        parts.append(piece)
        size += len(piece)
        pos += step
        yield
    if pos < n:
        parts.append(mark)
        return (parts, size + len(mark)), True
    return (parts, size), False


def _raw(codec: Codec, v: Any, room: int) -> Generator[None, None, tuple[Encoded, bool]]:
    view = memoryview(v)
    if not view.c_contiguous or view.itemsize != 1:
        view = memoryview(bytes(v))
    mark = codec.raw(_MARK_BYTES)
    n = len(view)
    limit = room if codec.raw_size(n) <= room else room - len(mark)
    parts: list[bytes] = []
    size = pos = 0
    while pos < n:
        step = min(RAW_PIECE, n - pos)
        if codec.raw_size(step) > limit - size:
            step = codec.raw_fit(limit - size)
            if step <= 0:
                break
        piece = codec.raw(view[pos : pos + step])
        parts.append(piece)
        size += len(piece)
        pos += step
        yield
    if pos < n:
        parts.append(mark)
        return (parts, size + len(mark)), True
    return (parts, size), False


def _short_text(codec: Codec, s: str) -> Encoded:
    """A short string value, in one go."""
    inside = codec.text(s)
    return codec.string(([inside], len(inside)))


def _weight(x: Any) -> int:
    """What encoding ``x`` costs, in items of a container (a scalar: 1)."""
    if isinstance(x, (str, *_RAW)):
        return 1 + len(x) // 1024
    if isinstance(x, _CONTAINERS):
        return 1 + len(x)
    return 1


def _items(codec: Codec, v: Any, room: int, seen: frozenset[int]) -> Pieces:
    """A list, tuple, set or map, an item at a time, until the next would not fit."""
    inner = seen | {id(v)}
    mapping = isinstance(v, Mapping)
    total = len(v)
    room -= MARK_ROOM  # the mark of a container cut always fits
    sep = codec.sep
    # Small items are joined a piece at a time: a million parts would make the request's
    # final join a long step of its own.
    parts: list[bytes] = []
    run: list[bytes] = []
    size = done = work = 0
    cut = False
    for x in v.items() if mapping else v:
        key = ""
        if mapping:
            key, x = x
            key = key if type(key) is str else safe_repr(key)
        left = room - size - len(sep)
        big = False
        try:
            one = codec.leaf(x, inner)
            value: Encoded = ([one], len(one))
        except m.HugeRecord:
            big = True
            value_parts, value_size, cut = yield from encode(codec, x, left - 16 - len(key), inner)
            value = (value_parts, value_size)
        item_parts, item_size = codec.entry(key, value) if mapping else codec.item(value)
        if item_size > left:
            cut = True  # (an item encoded whole that does not fit is left out)
            break
        if done:
            run.append(sep)
            size += len(sep)
        if big:  # its pieces as they are: joining them would be one long step
            parts.append(b"".join(run))
            parts += item_parts
            run = []
        else:
            run += item_parts
        size += item_size
        done += 1
        if cut:
            break
        work += _weight(x)
        if work >= ITEMS_PIECE:
            work = 0
            parts.append(b"".join(run))
            run = []
            yield
    if cut:
        more = f"{total - done} more"
        note = _short_text(codec, more if mapping else f"{TRUNCATION_MARK} {more}")
        mark_parts, mark_size = codec.entry(TRUNCATION_MARK, note) if mapping else codec.item(note)
        if done:
            run.append(sep)
            size += len(sep)
        run += mark_parts
        size += mark_size
    parts.append(b"".join(run))
    return (*(codec.kvlist if mapping else codec.array)((parts, size)), cut)


class Split:
    """A record with its big values taken out (see `split`)."""

    __slots__ = ("big", "body", "cuts", "rest", "stem")

    def __init__(
        self, rest: Signal, big: list[tuple[str, Any]], body: str | None, cuts: int, stem: str
    ) -> None:
        #: The record without the big values (tokens in their places, if asked for).
        self.rest = rest
        #: The big attributes, in the order the record has them.
        self.big = big
        #: The message of a log record, if big.
        self.body = body
        #: Strings cut already (a span's name, an error's message).
        self.cuts = cuts
        self.stem = stem

    def token(self, i: int) -> str:
        """The token in the place of the ``i``-th big value (the body comes after them)."""
        return f"{self.stem}{i}z"


def _is_big(v: Any) -> bool:
    if isinstance(v, (str, *_RAW)):
        return len(v) > SMALL_TEXT
    return isinstance(v, _CONTAINERS) and len(v) > 0


def _cut_text(text: str) -> str:
    return text[: m.HUGE_TEXT] + TRUNCATION_MARK


def _cut_error(err: ErrorInfo | None) -> tuple[ErrorInfo | None, int]:
    """The error with messages over ``HUGE_TEXT`` cut (and how many were)."""
    if err is None:
        return None, 0
    cause, cuts = _cut_error(err.cause)
    if len(err.message) <= m.HUGE_TEXT and cause is err.cause:
        return err, 0
    if len(err.message) > m.HUGE_TEXT:
        err = replace(err, message=_cut_text(err.message), stacktrace=None)
        cuts += 1
    return replace(err, cause=cause), cuts


def split(sig: Signal, *, span: bool, tokens: bool) -> Split:
    """``sig`` with its big values (those of its attributes, and a log record's message) taken
    out: removed, or, with ``tokens``, each replaced by a string of its own that appears
    nowhere else (`Split.token`); a span's name and an error's messages over ``HUGE_TEXT`` cut.
    Span data's reserved keys are left as they are."""
    ctx, data = dict(sig.ctx), dict(sig.data)
    merged = {**ctx, **data}
    if span:
        for key in m.RESERVED:
            if key in data:
                del merged[key]
    stem = f"zhv{getrandbits(64):016x}n" if tokens else ""
    big: list[tuple[str, Any]] = []
    for key, v in merged.items():
        if not _is_big(v):
            continue
        token = f"{stem}{len(big)}z"
        big.append((key, v))
        if key in data:  # the data's value is the one written (it wins a clash)
            if tokens:
                data[key] = token
            else:
                del data[key]
                ctx.pop(key, None)
        elif tokens:
            ctx[key] = token
        else:
            del ctx[key]
    msg, body, cuts = sig.msg, None, 0
    if msg is not None and len(msg) > SMALL_TEXT:
        if not span:
            body = msg
            msg = f"{stem}{len(big)}z" if tokens else None
        elif len(msg) > m.HUGE_TEXT:
            msg, cuts = _cut_text(msg), 1
    error, error_cuts = _cut_error(sig.error)
    rest = replace(sig, ctx=ctx, data=data, msg=msg, error=error)
    return Split(rest, big, body, cuts + error_cuts, stem)
