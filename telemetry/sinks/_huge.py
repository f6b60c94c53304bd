"""Encoding a signal that carries a huge value, a piece of the value at a time.

A batch is encoded a slice of signals at a time (:mod:`telemetry.sinks._encode`), but a single
signal is never cut, so one with a 10 MB string would still be one long step: 30 ms as JSON,
far more as text. :func:`heavy` finds such a slice before it is encoded, by the shallow size
(``sys.getsizeof``) of every value of ``data`` and ``ctx`` and of the message, in passes that
run in C. In such a slice, :func:`encode_huge` writes each signal whose values are over
:data:`HEAVY_VALUE_BYTES` in three parts:

- the signal with each huge value replaced by a token, encoded by the format as usual;
- each huge value as the format writes it in that place, from the format's ``pieces``
  (:data:`~telemetry.formats.Pieces`): a string a few hundred kilobytes at a time, and for
  JSON also ``bytes`` (base64) and the items of a list or dict;
- the encoded signal with every token replaced by its value's pieces.

Between pieces the event loop runs whenever the step has had its time (a slice's budget). The
bytes are exactly those of encoding the signal in one go: every format writes these values so
that the pieces join up (a JSON string escapes each character on its own). If anything does not
add up (a value the format refuses, such as a lone surrogate; a token that does not appear
exactly once), the signal is encoded in one go after all, as before.

Not seen: a value whose bulk is below its top level (a short list of long lists) is encoded in
one go; so are values of a kind the format has no pieces for (in ``text`` and ``logfmt``,
anything but a string: their ``repr`` is cut to ``MAX_REPR`` characters, but it is made whole
first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from itertools import chain
from operator import attrgetter
from random import getrandbits
from sys import getsizeof
from typing import Any

from msgspec.structs import replace

from .._signal import Signal
from ..formats import Format, Pieces

__all__ = ["HEAVY_VALUE_BYTES", "encode_huge", "heavy"]

#: A value whose shallow size (``sys.getsizeof``: about the characters of a string or the
#: bytes of ``bytes``, 8 bytes per item of a list, more per key of a dict) is over this is
#: written a piece at a time. One under it costs at most about a millisecond in any format.
HEAVY_VALUE_BYTES = 16 * 1024

_data = attrgetter("data")
_ctx = attrgetter("ctx")
_msg = attrgetter("msg")
_values = dict.values
_QUOTE = b'"'


def heavy(batch: Sequence[Signal]) -> bool:
    """Whether a signal of ``batch`` has a value of ``data`` or ``ctx``, or a message, over
    :data:`HEAVY_VALUE_BYTES` (one C pass each, a few tens of nanoseconds per value)."""
    limit = HEAVY_VALUE_BYTES
    for field in (_data, _ctx):
        if (
            max(map(getsizeof, chain.from_iterable(map(_values, map(field, batch)))), default=0)
            > limit
        ):
            return True
    return max(map(getsizeof, map(_msg, batch)), default=0) > limit


class _Huge:
    """One huge value of a signal: where it is, the token that stands in for it, its pieces."""

    __slots__ = ("pieces", "token")

    def __init__(self, token: str, pieces: Pieces) -> None:
        self.token = token
        self.pieces = pieces


def _stand_ins(fmt: Format, sig: Signal) -> tuple[Signal, list[_Huge]]:
    """``sig`` with every huge value the format has pieces for replaced by a token."""
    pieces_of: Callable[..., Pieces | None] | None = getattr(fmt, "pieces", None)
    found: list[_Huge] = []
    if pieces_of is None:
        return sig, found
    stem = f"zhv{getrandbits(64):016x}n"

    def stand_in(value: Any, *, msg: bool = False) -> Any:
        if getsizeof(value) <= HEAVY_VALUE_BYTES:
            return value
        pieces = pieces_of(value, msg=msg)
        if pieces is None:
            return value
        token = f"{stem}{len(found)}z"
        found.append(_Huge(token, pieces))
        return token

    data = {k: stand_in(v) for k, v in sig.data.items()}
    ctx = {k: stand_in(v) for k, v in sig.ctx.items()}
    msg = sig.msg if sig.msg is None else stand_in(sig.msg, msg=True)
    if not found:
        return sig, found
    return replace(sig, data=data, ctx=ctx, msg=msg), found


def _cut(head: bytes, found: list[_Huge]) -> Iterator[tuple[int, int, _Huge]] | None:
    """Where each token is in ``head``, in order (with the quotes around it, if any: they
    are the format's own for a string); ``None`` unless each is there exactly once."""
    spots = []
    for huge in found:
        token = huge.token.encode()
        start = head.find(token)
        if start < 0 or head.find(token, start + 1) >= 0:
            return None
        end = start + len(token)
        if head[start - 1 : start] == _QUOTE and head[end : end + 1] == _QUOTE:
            start, end = start - 1, end + 1
        spots.append((start, end, huge))
    return iter(sorted(spots, key=lambda spot: spot[0]))


async def encode_huge(fmt: Format, sig: Signal, pace: Callable[[], Awaitable[None]]) -> list[bytes]:
    """``fmt.encode_batch([sig])`` as parts to join, a piece of each huge value at a time;
    ``await pace()`` between pieces lets the loop run when the step has had its time."""
    stood_in, found = _stand_ins(fmt, sig)
    if not found:
        return [fmt.encode_batch([sig])]
    head = fmt.encode_batch([stood_in])
    spots = _cut(head, found)
    if spots is None:
        return [fmt.encode_batch([sig])]
    parts: list[bytes] = []
    done = 0
    try:
        for start, end, huge in spots:
            parts.append(head[done:start])
            inside: list[bytes] = []
            pieces = huge.pieces
            while True:
                try:
                    inside.append(next(pieces))
                except StopIteration as stop:
                    opening, closing = stop.value
                    break
                await pace()
            parts.append(opening)
            parts.extend(inside)
            parts.append(closing)
            done = end
    except Exception:  # a value the format refuses as it is: the usual way repairs it
        return [fmt.encode_batch([sig])]
    parts.append(head[done:])
    return parts
