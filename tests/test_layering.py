"""The package is layered: modules import downwards only, with no cycle anywhere.

``python -m tests.test_layering`` prints the import graph of ``telemetry`` (imports inside
functions and under ``TYPE_CHECKING`` included) and any cycle it finds.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import telemetry

PACKAGE = Path(telemetry.__file__).resolve().parent  # the one under test, installed or not
#: Modules that must import nothing else of the package.
LEAVES = ("telemetry._registry", "telemetry._taps", "telemetry._hooks")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of the package to the modules of the package it imports, anywhere in it."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                # "from . import _hooks" names the module, not the package it sits in.
                names = [f"{target}.{a.name}" for a in node.names]
                candidates = names if node.module is None else [target, *names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            for cand in candidates:
                if cand in modules and cand != name:
                    deps.add(cand)
        graph[name] = deps
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first search (one per back edge)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_no_import_cycle_in_the_package() -> None:
    """No module of telemetry imports, directly or through others, a module that imports it
    back: imports inside functions and under TYPE_CHECKING count too."""
    graph = import_graph()
    assert graph.get("telemetry._hub"), "the graph was read"
    assert find_cycles(graph) == []


def test_registries_import_nothing_of_the_package() -> None:
    """The default-hub registry, the capture taps and the process hooks stand alone, so that
    any layer may use them."""
    graph = import_graph()
    for leaf in LEAVES:
        assert graph[leaf] == set(), leaf


if __name__ == "__main__":
    g = import_graph()
    for mod in sorted(g):
        print(f"{mod}: {', '.join(sorted(g[mod])) or '-'}")
    found = find_cycles(g)
    print(f"\n{len(g)} modules, {sum(map(len, g.values()))} imports, {len(found)} cycles")
    for cycle in found:
        print("  " + " -> ".join(cycle))
    sys.exit(1 if found else 0)
