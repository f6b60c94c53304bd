"""JSON lines: one signal per line, encoded by one reused msgspec encoder.

Every line starts with ``"timestamp"``, the signal's time in UTC as RFC 3339 with microseconds
(``2026-12-06T22:35:01.123456Z``), the field and form that log shippers (Vector, Fluent Bit,
Grafana Alloy and Promtail, the Datadog agent, Filebeat) recognise without configuration;
``inst``, the same time in nanoseconds since the epoch, follows it unchanged. The date and
time of day are rendered once per second and kept: a line costs one ``%`` of its
microseconds, and the signal's object is encoded straight after the stamp into one buffer.

A string or ``bytes`` value (or message) longer than the sink's ``huge`` limit is written a
piece at a time (`JsonFormat.pieces`): msgspec escapes each character of a string on its own,
so the encodings of a string's pieces, without their quotes, join up to the encoding of the
whole; ``bytes`` are base64, whose every 3 bytes give 4 characters of their own. A list,
tuple or dict value with more than a 32nd of that limit in items (``is_huge``) is written some
items at a time, each piece about `ITEMS_PIECE_BYTES` of JSON (the next piece's count of items
follows from the last one's bytes): msgspec writes an array's items (an object's members, in
insertion order) one after the other with a comma between, so the pieces' encodings without
their brackets join up with commas.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from itertools import islice
from typing import Any

import msgspec

from .._signal import Signal
from ._safe import (
    HUGE_ITEMS_DIVISOR,
    NEVER_HUGE,
    HugeValue,
    Pieces,
    Repairs,
    is_huge,
    placeholder_signal,
    repair_signal,
)

__all__ = ["BYTES_PIECE", "ITEMS_PIECE_BYTES", "STR_PIECE", "JsonFormat", "timestamp"]

#: Characters of a huge string encoded at a time by `JsonFormat.pieces`: well under a
#: millisecond even when every character needs an escape.
STR_PIECE = 64 * 1024
#: Bytes of a huge ``bytes`` value encoded at a time: a multiple of 3, so that each piece's
#: base64 has no padding and the pieces join up to the base64 of the whole.
BYTES_PIECE = 3 * 64 * 1024
#: About how many bytes of JSON a piece of a huge list, tuple or dict is: well under a
#: millisecond (a list of a million ints, 6.9 MB of JSON, takes about 15 ms in one go; a dict's
#: pieces take longer, being dicts to build first). The first piece is `_FIRST_ITEMS` items;
#: one item bigger than this is still encoded in one go.
ITEMS_PIECE_BYTES = 64 * 1024
_FIRST_ITEMS = 256
# Values whose ``len`` says what they cost to write (characters, bytes, items).
_SIZED = frozenset({str, bytes, bytearray, list, tuple, dict})
_QUOTES = (b'"', b'"')
_BRACKETS = (b"[", b"]")
_BRACES = (b"{", b"}")

# What msgspec raises for a value it cannot write (UnicodeEncodeError is a ValueError).
_ERRORS = (RecursionError, TypeError, ValueError, msgspec.EncodeError, OverflowError)
_SECOND_NS = 1_000_000_000
_EPOCH = dt.datetime(1970, 1, 1)
_COMMA = ord(",")


def _next_size(size: int, written: int) -> int:
    """How many items the next piece of a container takes: ``size`` items made ``written``
    bytes, and a piece is to be about `ITEMS_PIECE_BYTES`."""
    return max(1, size * ITEMS_PIECE_BYTES // max(written, 1))


def _second(secs: int) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS`` of a second since the epoch (UTC); ``None`` outside years
    1-9999, which RFC 3339 cannot write."""
    try:
        return (_EPOCH + dt.timedelta(seconds=secs)).isoformat()
    except OverflowError:
        return None


def timestamp(inst_ns: int) -> str | None:
    """The ``"timestamp"`` of a signal at ``inst_ns``: ``2026-12-06T22:35:01.123456Z``, or
    ``None`` when the time is no calendar date (before year 1 or after 9999)."""
    secs, ns = divmod(inst_ns, _SECOND_NS)
    day_time = _second(secs)
    return None if day_time is None else f"{day_time}.{ns // 1000:06d}Z"


class JsonFormat(Repairs):
    """Encode batches of signals as JSON lines (UTF-8, ``\\n`` after every signal).

    Each line is the signal's object with ``"timestamp"`` first (see the module). One
    instance per sink: it owns a reused encoder and buffer. Never raises: a signal whose
    values msgspec rejects (a cycle, a non-string key, a lone surrogate, an int of thousands of
    digits) is re-encoded with those values made safe, and the rest of the batch is unaffected;
    `repaired` counts such signals until the sink takes the count.
    """

    name = "json"
    #: 1,024 ordinary signals encode in about 1 ms, their timestamps included (0.9 µs each
    #: with ``bench/json_encode.py`` on a busy 2-core machine; see ``Format.slice_size``).
    slice_size = 1024

    def __init__(self) -> None:
        super().__init__()
        self._encoder = msgspec.json.Encoder(enc_hook=self.enc_hook)
        self._buf = bytearray()
        # The second last stamped: [lo, hi) in nanoseconds, and the start of a line in it
        # with a place for the microseconds (b'\n{"timestamp":"2026-12-06T22:35:01.%06dZ"').
        self._lo = self._hi = 0
        self._stamp = b""

    def encode_batch(self, batch: Sequence[Signal]) -> bytes:
        """The whole batch as JSON lines."""
        return self.encode_slice(batch, NEVER_HUGE)

    def encode_slice(self, batch: Sequence[Signal], huge: int) -> bytes:
        """`encode_batch`, unless a signal has a string or ``bytes`` value (or a message)
        longer than ``huge``: then `HugeValue`, so that the caller can write that one a piece
        at a time (`pieces`). Costs a type check per value."""
        buf = self._buf
        del buf[:]
        into, size, comma = self._encoder.encode_into, len, _COMMA  # locals: read per signal
        lo, hi, stamp = self._lo, self._hi, self._stamp
        # Below ``few`` nothing is huge (a container's limit is lower than a string's).
        sized, few = _SIZED, huge // HUGE_ITEMS_DIVISOR
        for sig in batch:
            # What a huge value would cost is the encoding itself: look before encoding.
            msg = sig.msg
            if type(msg) is str and len(msg) > huge:
                raise HugeValue
            for v in sig.data.values():
                if type(v) in sized and len(v) > few and is_huge(v, huge):
                    raise HugeValue
            if sig.ctx:
                for v in sig.ctx.values():
                    if type(v) in sized and len(v) > few and is_huge(v, huge):
                        raise HugeValue
            inst = sig.inst
            if not lo <= inst < hi:  # rare: a new second
                if not self._new_second(inst):  # no calendar date: no timestamp
                    buf += b"\n" + self._encode_object(sig)
                    continue
                lo, hi, stamp = self._lo, self._hi, self._stamp
            buf += stamp % ((inst - lo) // 1000)
            start = size(buf)
            try:  # straight into the buffer: a huge value is copied no more than it must be
                into(sig, buf, start)
            except _ERRORS:
                del buf[start:]
                buf += self._encode_object(sig)
            buf[start] = comma  # the object's "{" follows the stamp as its ","
        buf += b"\n"
        return bytes(memoryview(buf)[1:])

    def pieces(self, value: Any, *, msg: bool = False) -> Pieces | None:
        """A huge string, ``bytes``, list, tuple or dict value (or message) as it is written, a
        piece at a time (see `Pieces`); ``None`` for anything else. Raises for a value msgspec
        refuses (a lone surrogate, a key that is not a string; a dict changed meanwhile): the
        signal is then written the usual way, which repairs it."""
        kind = type(value)
        if kind is str:
            return self._pieces(value, STR_PIECE)
        if kind is bytes or kind is bytearray:
            return self._pieces(value, BYTES_PIECE)
        if kind is list or kind is tuple:
            return self._items(value)
        if kind is dict:
            return self._members(value)
        return None

    def _pieces(self, value: str | bytes | bytearray, size: int) -> Pieces:
        encode = self._encoder.encode
        for i in range(0, len(value), size):
            yield encode(value[i : i + size])[1:-1]
        return _QUOTES

    def _items(self, value: list[Any] | tuple[Any, ...]) -> Pieces:
        encode, size, i = self._encoder.encode, _FIRST_ITEMS, 0
        while i < len(value):
            inside = encode(value[i : i + size])[1:-1]
            yield b"," + inside if i else inside
            i += size
            size = _next_size(size, len(inside))
        return _BRACKETS

    def _members(self, value: dict[Any, Any]) -> Pieces:
        encode, size, first = self._encoder.encode, _FIRST_ITEMS, True
        members = iter(value.items())
        while chunk := dict(islice(members, size)):
            inside = encode(chunk)[1:-1]
            yield inside if first else b"," + inside
            first = False
            size = _next_size(size, len(inside))
        return _BRACES

    def encode(self, sig: Signal) -> bytes:
        """One signal as a JSON object, without the trailing newline."""
        body = self._encode_object(sig)
        inst = sig.inst
        if not self._lo <= inst < self._hi and not self._new_second(inst):
            return body  # no calendar date: the line goes without a timestamp
        stamp = self._stamp % ((inst - self._lo) // 1000)
        return stamp[1:] + b"," + body[1:]

    def _new_second(self, inst: int) -> bool:
        """Make the second of ``inst`` the one stamped; ``False`` (and nothing changed) if
        it has no calendar date."""
        secs = inst // _SECOND_NS
        day_time = _second(secs)
        if day_time is None:
            return False
        self._lo, self._hi = secs * _SECOND_NS, (secs + 1) * _SECOND_NS
        self._stamp = f'\n{{"timestamp":"{day_time}.%06dZ"'.encode()
        return True

    def _encode_object(self, sig: Signal) -> bytes:
        """The signal's own object; values msgspec rejects are replaced (and counted)."""
        try:
            return self._encoder.encode(sig)
        except _ERRORS:
            pass
        self.repaired += 1
        try:
            return self._encoder.encode(repair_signal(sig))
        except _ERRORS:
            return self._encoder.encode(placeholder_signal(sig))
