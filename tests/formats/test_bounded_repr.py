"""A big value's repr is built only as far as it is written, exactly as CPython writes it."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from telemetry.formats import LogfmtFormat, TextFormat
from telemetry.formats._repr import bounded_repr
from telemetry.formats._safe import MAX_REPR, safe_repr
from telemetry.testing import make_signal

_scalars = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
    st.text(st.sampled_from("ab'\"\\\n\x00\x7fé😀\ud800"), max_size=30),
    st.binary(max_size=30).map(lambda b: b + b"'\"\\\n\x00\xff"[: len(b) % 7]),
)
_hashable = st.recursive(_scalars, lambda inner: st.frozensets(inner, max_size=4), max_leaves=8)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_hashable, inner, max_size=4),
        st.sets(_hashable, max_size=4),
        st.frozensets(_hashable, max_size=4),
    ),
    max_leaves=30,
)


def _cyclic() -> list[Any]:
    a: list[Any] = [1, {"k": ()}]
    d: dict[str, Any] = {"list": a}
    a.append(d)
    a.append(a)
    return a


@settings(max_examples=500, deadline=None)
@given(value=_values, limit=st.integers(0, 300))
@example(value=_cyclic(), limit=1000)
@example(value=_cyclic(), limit=7)
@example(value=["it's " * 20], limit=10)  # a prefix without the '"' the whole has
@example(value=[b'it\'s "x" ' * 20], limit=10)
def test_the_bounded_repr_is_the_start_of_repr(value: Any, limit: int) -> None:
    """Whatever the nesting (lists, tuples of one, dicts, sets, frozensets, cycles) and the
    strings and bytes inside (quotes, escapes, lone surrogates), what is built is repr
    itself when it fits, and otherwise exactly its start, longer than the limit."""
    text, whole = bounded_repr(value, limit)
    full = repr(value)
    if whole:
        assert text == full
    else:
        assert full.startswith(text)
        assert limit < len(text) < len(full)


class _Counted:
    """An item whose repr is counted."""

    calls = 0

    def __repr__(self) -> str:
        _Counted.calls += 1
        return "C"


def test_a_big_container_has_only_the_written_items_repr_d() -> None:
    """A list of 100,000 items, a dict of 100,000 and a list of lists have only the items
    that are written asked for their repr, and are cut with their type and length."""
    _Counted.calls = 0
    items = [_Counted() for _ in range(100_000)]
    for big in (items, dict(enumerate(items)), [items[:1000] for _ in range(100)]):
        _Counted.calls = 0
        text = safe_repr(big)
        assert _Counted.calls < 10_000
        assert text.startswith(repr(big)[:MAX_REPR])
        assert text.endswith(f"...<more: {type(big).__name__} of length {len(big)}>")
        assert len(text) < MAX_REPR + 50


def test_a_container_a_little_over_the_limit_says_how_much_was_left() -> None:
    """A container whose repr is a little over MAX_REPR is cut and marked as before, with
    the exact count of characters left; a small one is written whole."""
    small = {"k": [1, 2, (3,)], "s": {4}}
    assert safe_repr(small) == repr(small)
    over = list(range(1000))
    full = repr(over)
    assert safe_repr(over) == f"{full[:MAX_REPR]}...<{len(full) - MAX_REPR} more characters>"


def test_huge_bytes_and_lists_are_written_cut_by_text_and_logfmt() -> None:
    """10 MB of bytes and a list of a million ints are written by text and logfmt as the
    start of their repr with the mark, on one line."""
    big = b"\x00'" * 5_000_000
    sig = make_signal("m", data={"b": big, "l": list(range(1_000_000))})
    for fmt in (TextFormat(), LogfmtFormat()):
        line = fmt.encode_batch([sig]).decode()
        assert line.count("\n") == 1
        assert "...<more: bytes of length 10000000>" in line
        assert "...<more: list of length 1000000>" in line
        assert "[0, 1, 2, 3" in line
