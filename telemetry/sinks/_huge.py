"""Encoding a signal that carries a huge string, a piece of the string at a time.

A batch is encoded a slice of signals at a time (`telemetry.sinks._encode`), but a single
signal is never cut, so one with a 10 MB string would still be one long step: from 25 ms to
almost a second, depending on the format and the string. The formats find such a signal as
they encode a slice (``encode_slice`` raises `HugeValue` for a string value or message over
`HUGE_VALUE_CHARS`, and in JSON lines for ``bytes`` too: a length check per string value in
``text`` and ``logfmt``, which they were looking at anyway; a type check per value in JSON
lines). `encode_huge` then writes that signal in three parts:

- the signal with each huge value replaced by a token, encoded by the format as usual;
- each huge value as the format writes it in that place, from the format's ``pieces``
  (`Pieces`), a bounded amount of work at a time;
- the encoded signal with every token replaced by its value's pieces (the token's quotes
  included, if the format wrote it in quotes: the pieces give their own).

Between pieces the event loop runs whenever the step has had its time (a slice's budget). The
bytes are exactly those of encoding the signal in one go: escaping and quoting look at each
character on its own (base64 at each 3 bytes), so the pieces join up. If anything does not add
up (a string the format refuses, such as one with a lone surrogate; a token that does not
appear exactly once), the signal is encoded in one go after all, as before.

Containers: JSON lines writes a list, tuple or dict with many items (``is_huge``) a piece of
items at a time, the same way; in ``text`` and ``logfmt`` only the written start of their
``repr`` is built (see `telemetry.formats._repr`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from random import getrandbits
from typing import Any

from msgspec.structs import replace

from .._signal import Signal
from ..formats import HUGE_VALUE_CHARS, Format, Pieces
from ..formats._safe import is_huge

__all__ = ["encode_huge"]

_QUOTE = b'"'
# Values whose ``len`` says what they cost to write; a format's ``pieces`` picks its own.
_SIZED = frozenset({str, bytes, bytearray, list, tuple, dict})


class _Huge:
    """One huge value of a signal: the token that stands in for it, and its pieces."""

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
        if type(value) not in _SIZED or not is_huge(value, HUGE_VALUE_CHARS):
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
    repaired = getattr(fmt, "repaired", None)
    head = fmt.encode_batch([stood_in])
    spots = _cut(head, found)
    if spots is None:
        return _in_one_go(fmt, sig, repaired)
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
        return _in_one_go(fmt, sig, repaired)
    parts.append(head[done:])
    return parts


def _in_one_go(fmt: Format, sig: Signal, repaired: int | None) -> list[bytes]:
    """The signal encoded the usual way after all; the repairs the head counted are undone,
    since this encoding counts them again."""
    if repaired is not None:
        fmt.repaired = repaired  # type: ignore[attr-defined]
    return [fmt.encode_batch([sig])]
