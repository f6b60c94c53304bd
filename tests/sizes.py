"""The package's sizes: the largest modules and the longest functions, in two views.

``python -m tests.sizes`` prints the ten largest modules of ``telemetry`` and the functions and
methods over 60 lines (from the ``def`` to the last line, decorators excluded), counted two ways:

- code lines: the lines that hold code, without docstrings, comments and blank lines. A
  parameter table in a docstring does not make a function look long; this is the view the
  "no function over ~60 lines" habit is held to.
- total lines: every line, docstrings included, so that nothing is hidden.

A string that is code (a template, a message) counts as code; a string standing alone as a
statement (a docstring, of a module, class, function or attribute) does not.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "telemetry"
LONG = 60

_NOT_CODE = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
)


def code_lines(source: str, tree: ast.Module | None = None) -> set[int]:
    """The numbers of the lines of ``source`` that hold code: not blank, not only a comment,
    not part of a docstring (a string constant standing alone as a statement)."""
    tree = tree if tree is not None else ast.parse(source)
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            docstrings.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - docstrings


class Sizes:
    """The sizes of one module: its lines, its code lines, and those of each function."""

    def __init__(self, path: Path) -> None:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, str(path))
        code = code_lines(source, tree)
        #: The module's path, from the repository's root.
        self.path = str(path.relative_to(PACKAGE.parent))
        #: Every line of the module.
        self.total = len(source.splitlines())
        #: The lines that hold code.
        self.code = len(code)
        #: (code lines, total lines, "path:line name") of every function and method.
        self.functions: list[tuple[int, int, str]] = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                end = node.end_lineno or node.lineno
                span = range(node.lineno, end + 1)
                where = f"{self.path}:{node.lineno} {node.name}"
                self.functions.append((len(code.intersection(span)), len(span), where))


def measure() -> list[Sizes]:
    """The sizes of every module of the package."""
    return [Sizes(path) for path in sorted(PACKAGE.rglob("*.py"))]


def module_sizes() -> list[tuple[int, int, str]]:
    """(lines, code lines, path) of every module, largest first by lines."""
    return sorted(((m.total, m.code, m.path) for m in measure()), reverse=True)


def long_functions(
    limit: int = LONG, *, by: str = "code", modules: list[Sizes] | None = None
) -> list[tuple[int, int, str]]:
    """(code lines, lines, "path:line name") of every function over ``limit`` code lines
    (``by="code"``) or lines in total (``by="total"``), longest first in that view."""
    column = 0 if by == "code" else 1
    modules = measure() if modules is None else modules
    found = [f for m in modules for f in m.functions if f[column] > limit]
    return sorted(found, key=lambda f: (f[column], f[1 - column]), reverse=True)


def report() -> str:
    """What ``python -m tests.sizes`` prints."""
    modules = measure()
    out = ["largest modules by lines (lines, code lines):"]
    for m in sorted(modules, key=lambda m: (m.total, m.code), reverse=True)[:10]:
        out.append(f"  {m.total:5} {m.code:5}  {m.path}")
    out.append("largest modules by code lines (code lines, lines):")
    for m in sorted(modules, key=lambda m: (m.code, m.total), reverse=True)[:10]:
        out.append(f"  {m.code:5} {m.total:5}  {m.path}")
    by_code = long_functions(by="code", modules=modules)
    out.append(
        f"functions over {LONG} code lines (docstrings, comments and blank lines not "
        f"counted): {len(by_code)} (code lines, lines)"
    )
    out += [f"  {code:5} {total:5}  {where}" for code, total, where in by_code]
    by_total = long_functions(by="total", modules=modules)
    out.append(
        f"functions over {LONG} lines in total (docstrings included): {len(by_total)} "
        "(lines, code lines)"
    )
    out += [f"  {total:5} {code:5}  {where}" for code, total, where in by_total]
    return "\n".join(out)


if __name__ == "__main__":
    print(report())
