"""The start of a big value's ``repr``, built only as far as it is written.

``repr`` of a list of a million ints takes about 40 ms, of a 10 MB ``bytes`` value about
80 ms, and the formats keep 2,000 characters of it. `bounded_repr` walks lists, tuples,
dicts, sets and frozensets item by item (and cuts long strings and ``bytes`` inside them)
until it has more characters than asked for, so that its cost follows the length written, not
the value's size. What it gives is exactly the start of ``repr(value)``: the brackets,
separators, quoting and recursion markers are those of CPython's own ``repr``, and every item
that is not one of those types is its own ``repr``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BOUNDED", "bounded_repr"]

#: Types whose ``repr`` `bounded_repr` builds itself (exact types: a subclass may have a
#: ``__repr__`` of its own).
BOUNDED = frozenset({list, tuple, dict, set, frozenset, str, bytes})
#: Deeper than this, a nested container is asked for its own ``repr``: CPython's raises
#: RecursionError where a walk this deep would.
_MAX_DEPTH = 100


_BRACKETS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    dict: ("{", "}"),
    set: ("{", "}"),
}

_CYCLES: dict[type, str] = {list: "[...]", tuple: "(...)", dict: "{...}"}


class _Enough(Exception):
    """More characters than asked for: the walk stops."""


class _Walk:
    """The characters of a ``repr`` so far, up to just over ``limit``."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.active: set[int] = set()  # the containers being written: a cycle shows as "[...]"

    def add(self, text: str) -> None:
        # Checked before adding: the last characters of a repr need not say "there is more".
        if self.size > self.limit:
            raise _Enough
        self.parts.append(text)
        self.size += len(text)

    def value(self, obj: Any, depth: int) -> None:
        if self.size > self.limit:
            raise _Enough
        kind = type(obj)
        if kind is str or kind is bytes:
            room = self.limit - self.size + 1
            self.add(_text_repr(obj, room))
            if len(obj) > room:  # the start of it only
                raise _Enough
        elif kind in BOUNDED and depth < _MAX_DEPTH:
            self.container(obj, kind, depth)
        else:
            self.add(repr(obj))

    def container(self, obj: Any, kind: type, depth: int) -> None:
        if not obj:
            self.add(repr(obj))  # "[]", "()", "{}", "set()", "frozenset()"
            return
        name = kind.__name__
        key = id(obj)
        if key in self.active:
            self.add(_CYCLES.get(kind) or f"{name}(...)")
            return
        self.active.add(key)
        opening, closing = _BRACKETS.get(kind) or (f"{name}({{", "})")
        self.add(opening)
        first = True
        if kind is dict:
            for k, v in obj.items():
                if not first:
                    self.add(", ")
                first = False
                self.value(k, depth + 1)
                self.add(": ")
                self.value(v, depth + 1)
        else:
            for item in obj:
                if not first:
                    self.add(", ")
                first = False
                self.value(item, depth + 1)
            if kind is tuple and len(obj) == 1:
                self.add(",")
        self.add(closing)
        self.active.discard(key)


def _text_repr(text: str | bytes, n: int) -> str:
    """``repr(text)``, or at least its first ``n`` characters when ``text`` is longer.

    CPython quotes with ``"`` only when the whole has a ``'`` and no ``"``, and escapes every
    other character on its own: the ``repr`` of a prefix is the start of the whole's once its
    quote is the whole's (a prefix quoted with ``"`` has no ``"``; in ``'`` quotes, its ``'``
    are escaped).
    """
    if len(text) <= n:
        return repr(text)
    if isinstance(text, str):
        quote = '"' if "'" in text and '"' not in text else "'"
    else:
        quote = '"' if b"'" in text and b'"' not in text else "'"
    start = repr(text[:n])
    lead = 1 if type(text) is str else 2  # "b'"
    body = start[lead:-1]
    if start[lead - 1] == '"' and quote == "'":
        body = body.replace("'", "\\'")
    return start[: lead - 1] + quote + body


def bounded_repr(obj: Any, limit: int) -> tuple[str, bool]:
    """The start of ``repr(obj)``, at least ``limit`` characters of it (``obj`` of a type in
    `BOUNDED`), and whether that is all of it. Raises what the ``repr`` of an item raises."""
    walk = _Walk(limit)
    try:
        walk.value(obj, 0)
    except _Enough:
        return "".join(walk.parts), False
    return "".join(walk.parts), True
