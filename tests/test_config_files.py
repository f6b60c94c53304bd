"""Reading a configuration: ``${VAR}`` expansion, and masking what must not be printed."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from telemetry._config_files import MASK, expand, mask

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
#: A variable's value: anything, and in particular what looks like a reference or a $$ (a
#: value is put in as it is, never expanded again).
TEXT = st.one_of(
    st.text(max_size=12),
    st.lists(
        st.one_of(
            st.sampled_from(["$", "$$", "${", "}", ":-", "{"]),
            NAMES.map(lambda name: f"${{{name}}}"),
            NAMES.map(lambda name: f"${{{name}:-d}}"),
            st.text(max_size=3),
        ),
        min_size=1,
        max_size=4,
    ).map("".join),
)
LITERAL = st.text(max_size=8).filter(lambda t: "$" not in t)


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, str, dict[str, str], list[str]]:
    """A string of literals, ``$$``, ``${VAR}`` and ``${VAR:-default}``; what it should give
    with the environment drawn; and the variables left unset without a default."""
    env = draw(st.dictionaries(NAMES, TEXT, max_size=4))
    parts, want, unset = [], [], []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["literal", "dollar", "var", "default"]))
        if kind == "literal":
            text = draw(LITERAL)
            parts.append(text)
            want.append(text)
        elif kind == "dollar":
            parts.append("$$")
            want.append("$")
        else:
            # Mostly a variable that is set, so that its value (often holding a $) is put in.
            name = draw(st.sampled_from(sorted(env)) | NAMES if env else NAMES)
            if kind == "var":
                parts.append(f"${{{name}}}")
                if name not in env:
                    unset.append(name)
                want.append(env.get(name, ""))
            else:
                default = draw(LITERAL.filter(lambda t: "}" not in t))
                parts.append(f"${{{name}:-{default}}}")
                want.append(env.get(name, default))
    return "".join(parts), "".join(want), env, unset


@given(templates())
@settings(max_examples=300)
def test_expansion_puts_in_each_variable_once_and_never_expands_a_value(
    case: tuple[str, str, dict[str, str], list[str]],
) -> None:
    """Each reference becomes its value (or default), $$ a $, and a value that itself looks
    like a reference is left as it is; unset variables without a default are reported."""
    template, want, env, unset = case
    put_in = [env[n] for n in re.findall(r"\$\{(\w+)", template.replace("$$", "")) if n in env]
    event(f"a value put in holds a $: {any('$' in v for v in put_in)}")
    out, used, missing = expand({"a": {"b": [template]}}, env)
    assert out == {"a": {"b": [want]}}
    assert [name for _, name in missing] == unset
    assert all(path == "a.b[0]" for path, _ in missing)
    assert set(used) <= {"a.b[0]"}


@given(st.recursive(st.none() | st.booleans() | st.integers() | LITERAL,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(LITERAL, inner, max_size=3), max_leaves=10))  # fmt: skip
def test_a_configuration_without_references_is_read_as_it_is(value: Any) -> None:
    """Expansion changes nothing where there is no $."""
    out, used, missing = expand({"k": value}, {})
    assert out == {"k": value}
    assert (used, missing) == ({}, [])


def test_a_value_from_a_secret_variable_is_masked_wherever_it_is() -> None:
    """A string that used a variable named like a secret is masked; other variables are not."""
    config = {"handlers": {"o": {"endpoint": "${HOST}:4318", "label": "x-${DB_PASSWORD}"}}}
    out, used, _ = expand(config, {"HOST": "collector", "DB_PASSWORD": "hunter2"})
    secret = frozenset(path for path, is_secret in used.items() if is_secret)
    assert secret == {"handlers.o.label"}
    assert mask(out, secret) == {"handlers": {"o": {"endpoint": "collector:4318", "label": MASK}}}
