"""The docstrings are in one style that the reference pages render natively.

Google style throughout: no reST role (``:class:`...```) anywhere in the package, and every
public function, method and class constructor shown on an API reference page documents its
parameters in an ``Args:`` section (the page's parameter table), naming each of them and nothing
else. Cross-references are mkdocstrings autorefs (``[`Signal`][telemetry.Signal]``);
``mkdocs build --strict`` (``tests/test_site.py``) fails on one that does not resolve.

``python -m tests.test_docstrings`` prints what is missing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import telemetry
from tests.conftest import needs

PACKAGE = Path(telemetry.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"

ROLE = re.compile(r":(?:py:)?(?:attr|class|const|data|exc|func|meth|mod|obj|ref):`")


def package_files() -> Iterator[tuple[str, Path]]:
    """Every module of the package, by its path relative to the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), path


def test_no_rest_role_is_left_in_the_package() -> None:
    """Cross-references are autorefs, never reST roles, which the reference would show raw."""
    found = [
        f"{name}:{number}: {line.strip()}"
        for name, path in package_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ROLE.search(line)
    ]
    assert not found, "reST roles left:\n" + "\n".join(found)


# The griffe part: what the reference pages render, and the sections griffe parses from it.


def reference_roots() -> list[tuple[str, list[str] | None, bool]]:
    """Each ``::: module`` of the reference pages: its path, its ``members`` list if the page
    names one, and whether it shows inherited members."""
    roots = []
    for page in sorted(REFERENCE.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^::: (\S+)\n((?:    .*\n?)*)", text, re.MULTILINE):
            options = match.group(2)
            members = re.findall(r"^\s+- (\w+)$", options, re.MULTILINE) or None
            roots.append((match.group(1), members, "inherited_members: true" in options))
    return roots


def _public(name: str) -> bool:
    return not name.startswith("_")


def rendered() -> Iterator[Any]:
    """Every function, method and class a reference page shows, as griffe objects."""
    import griffe

    package = griffe.load(
        "telemetry", search_paths=[str(PACKAGE.parent)], docstring_parser="google"
    )
    for path, members, inherited in reference_roots():
        module = package[path.removeprefix("telemetry.")] if path != "telemetry" else package
        names = members or (list(module.exports) if module.exports else None)
        if names is None:
            names = [n for n, m in module.members.items() if _public(n) and not m.is_alias]
        for name in names:
            obj = module[name]
            obj = obj.final_target if obj.is_alias else obj
            yield obj
            if obj.is_class:
                found = obj.all_members if inherited else obj.members
                for member_name, member in found.items():
                    if not _public(member_name):
                        continue
                    member = member.final_target if member.is_alias else member
                    if member.is_function:
                        yield member


def _parameters(func: Any) -> list[str]:
    """The parameters a caller passes (not ``self``/``cls``, ``*args``/``**kwargs`` by name)."""
    names = []
    for parameter in func.parameters:
        if parameter.name in ("self", "cls"):
            continue
        names.append(parameter.name)
    return names


def _documented(*docstrings: Any) -> set[str] | None:
    """The parameter names in the ``Args:`` sections of these docstrings; None if none has one."""
    names: set[str] | None = None
    for docstring in docstrings:
        if docstring is None:
            continue
        for section in docstring.parsed:
            if section.kind.value == "parameters":
                names = (names or set()) | {p.name.lstrip("*") for p in section.value}
    return names


def problems() -> list[str]:
    """What a reference page would show without its parameter table, or with a wrong one."""
    found: list[str] = []
    seen: set[str] = set()
    for obj in rendered():
        where = obj.path
        if where in seen:
            continue
        seen.add(where)
        relative = Path(obj.filepath).resolve().relative_to(PACKAGE).as_posix()
        if obj.is_class:
            init = obj.all_members.get("__init__")
            if init is None or not init.is_function:
                continue
            func, docstrings = init, (obj.docstring, init.docstring)
        elif obj.is_function:
            func, docstrings = obj, (obj.docstring,)
        else:
            continue
        wanted = [n.lstrip("*") for n in _parameters(func)]
        if not wanted:
            continue
        documented = _documented(*docstrings)
        if documented is None:
            found.append(f"{where} ({relative}): no Args: section for {', '.join(wanted)}")
            continue
        missing = [n for n in wanted if n not in documented]
        unknown = sorted(documented - set(wanted))
        if missing:
            found.append(f"{where} ({relative}): Args: lacks {', '.join(missing)}")
        if unknown:
            found.append(f"{where} ({relative}): Args: names unknown {', '.join(unknown)}")
    return found


def test_every_documented_callable_has_a_parameter_table() -> None:
    """Every public callable on a reference page lists all its parameters, and no other, in Args."""
    needs("griffe")  # the docs group
    found = problems()
    assert not found, "\n".join(found)


if __name__ == "__main__":
    report = problems()
    print("\n".join(report))
    print(f"{len(report)} problems", file=sys.stderr)
