"""The hub's and the handlers' options are declared once (``telemetry._options``).

The signatures of ``Telemetry(...)`` and ``add_handler(...)``, their ``Args:`` sections and the
options tables of the configuration page are held to the declarations here.
``python -m tests.test_options --write`` rewrites the page's tables from the declarations.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from telemetry import ConfigError, Handler, Telemetry
from telemetry._options import (
    FILTER_NAMES,
    HANDLER_OPTIONS,
    HUB,
    HUB_OPTIONS,
    Option,
    markdown_table,
)
from telemetry.sinks import MemorySink

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
TABLES = {"hub": HUB_OPTIONS, "handler": HANDLER_OPTIONS}


def _keywords(func: Any) -> dict[str, Any]:
    params = inspect.signature(func).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


@pytest.mark.parametrize(
    ("func", "options"),
    [(Telemetry.__init__, HUB_OPTIONS), (Telemetry.add_handler, HANDLER_OPTIONS)],
    ids=["Telemetry", "add_handler"],
)
def test_signatures_take_exactly_the_declared_options_with_their_defaults(
    func: Any, options: tuple[Option, ...]
) -> None:
    """Each keyword of Telemetry() and add_handler() is a declared option, with its default."""
    assert _keywords(func) == {o.name: o.default for o in options}


def test_handler_takes_the_declared_options_that_are_not_filters() -> None:
    """Handler() takes each non-filter handler option with its declared default, and the
    filters built from the rest."""
    expected = {o.name: o.default for o in HANDLER_OPTIONS if o.name not in FILTER_NAMES}
    assert _keywords(Handler.__init__) == {**expected, "filters": None}


def _args_section(doc: str) -> dict[str, str]:
    """The ``Args:`` entries of a Google-style docstring: name to its text, lines joined."""
    section = doc.split("Args:", 1)[1]
    section = re.split(r"\n\s*\n\s*(?:Returns|Raises):", section)[0]
    lines = [line for line in section.splitlines() if line.strip()]
    indent = len(lines[0]) - len(lines[0].lstrip())  # an entry's; its continuation is deeper
    entries: dict[str, str] = {}
    name = ""
    for line in lines:
        m = re.match(r"^(\**\w+): (.*)$", line.strip())
        if m and len(line) - len(line.lstrip()) == indent:
            name = m[1]
            entries[name] = m[2]
        else:
            entries[name] += " " + line.strip()
    return entries


@pytest.mark.parametrize(
    ("doc", "options", "extra"),
    [
        (Telemetry.__doc__, HUB_OPTIONS, {"handlers", "**unknown"}),
        (Telemetry.add_handler.__doc__, HANDLER_OPTIONS, {"name", "sink", "**unknown"}),
    ],
    ids=["Telemetry", "add_handler"],
)
def test_args_sections_describe_each_declared_option_as_declared(
    doc: str, options: tuple[Option, ...], extra: set[str]
) -> None:
    """The reference docs' parameter tables list every option, opening with its declared line."""
    entries = _args_section(doc)
    assert set(entries) == {o.name for o in options} | extra
    for o in options:
        assert entries[o.name].startswith(o.doc.rstrip(".")), o.name


def _page_table(text: str, which: str) -> str:
    m = re.search(rf"<!-- options:{which} -->\n(.*?)<!-- /options -->", text, re.S)
    assert m, f"the configuration page has no options:{which} table"
    return m[1]


@pytest.mark.parametrize("which", sorted(TABLES))
def test_configuration_page_lists_every_option_with_its_default(which: str) -> None:
    """The configuration page's options table is the one the declarations give."""
    table = markdown_table(TABLES[which], file_only=True)
    assert _page_table(PAGE.read_text(), which) == table


@pytest.mark.parametrize(
    "option", [o for o in HANDLER_OPTIONS if o.kind != "other"], ids=lambda o: o.name
)
def test_add_handler_refuses_what_the_declaration_refuses(option: Option) -> None:
    """A value outside an option's declared bounds or choices is a ConfigError naming the
    handler, the option and what is allowed."""
    bad: Any = {"int": -1, "seconds": -1.0, "number": 2.0, "choice": "fast", "flag": None}
    if option.kind == "flag":
        return  # any value is read as true or false
    with pytest.raises(ConfigError) as info:
        Telemetry(env={}).add_handler("h", MemorySink(), **{option.name: bad[option.kind]})
    assert (info.value.handler, info.value.param) == ("h", option.name)
    assert option.allowed.split(" or None")[0] in str(info.value)


@pytest.mark.parametrize(
    ("option", "bad"),
    [(HUB["sample"], 1.5), (HUB["close_timeout"], 0), (HUB["close_timeout"], "1")],
)
def test_the_hub_refuses_what_the_declaration_refuses(option: Option, bad: object) -> None:
    """A hub option outside its declared bounds is a ConfigError naming it and what is allowed."""
    with pytest.raises(ConfigError) as info:
        Telemetry(env={}, **{option.name: bad})
    assert info.value.param == option.name
    assert str(info.value) == f"{option.name} must be {option.allowed}, got {bad!r}"


def write() -> None:
    """Rewrite the configuration page's options tables from the declarations."""
    text = PAGE.read_text()
    for which, options in TABLES.items():
        _page_table(text, which)
        text = re.sub(
            rf"(<!-- options:{which} -->\n).*?(<!-- /options -->)",
            lambda m, o=options: m[1] + markdown_table(o, file_only=True) + m[2],  # type: ignore[misc]
            text,
            flags=re.S,
        )
    PAGE.write_text(text)


if __name__ == "__main__" and "--write" in sys.argv:
    write()
