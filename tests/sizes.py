"""The package's sizes: the largest modules and the functions over 60 lines.

``python -m tests.sizes`` prints the ten largest modules of ``telemetry`` (lines) and every
function or method longer than 60 lines (from its ``def`` to its last line, decorators
excluded).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "telemetry"
LONG = 60


def module_sizes() -> list[tuple[int, str]]:
    """(lines, path) of every module, largest first."""
    sizes = [
        (len(p.read_text().splitlines()), str(p.relative_to(PACKAGE.parent)))
        for p in PACKAGE.rglob("*.py")
    ]
    return sorted(sizes, reverse=True)


def long_functions(limit: int = LONG) -> list[tuple[int, str]]:
    """(lines, path:line name) of every function longer than ``limit`` lines."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > limit:
                    where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                    out.append((n, f"{where} {node.name}"))
    return sorted(out, reverse=True)


if __name__ == "__main__":
    print("largest modules:")
    for n, path in module_sizes()[:10]:
        print(f"  {n:5} {path}")
    funcs = long_functions()
    print(f"functions over {LONG} lines: {len(funcs)}")
    for n, name in funcs:
        print(f"  {n:5} {name}")
