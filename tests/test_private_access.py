"""Parts talk through public seams: no module reads another module's private members.

An AST scan of every attribute access ``obj._name`` in the package where ``obj`` is not
``self`` or ``cls``: the access is *local* when a class or the module itself, in the same
module, defines ``_name``; otherwise it reaches into another module's object. Those are
allowed only in :data:`ALLOWED`, each with the reason it is a seam.

``python -m tests.test_private_access`` prints every cross-module read and the counts.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

import telemetry

PACKAGE = Path(telemetry.__file__).resolve().parent  # the one under test, installed or not

#: The standard library's private functions the package calls, each for a reason.
STDLIB: dict[tuple[str, str], str] = {
    ("sys", "_getframe"): "the caller's frame, without building a traceback (as logging does)",
    ("asyncio", "_get_running_loop"): "whether a loop runs here, without raising when none does",
    ("threading", "_register_atexit"): "run before non-daemon threads are joined at exit",
}
#: (module, receiver, member) reads of another module's private member that are a seam.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("telemetry._fallback", "hub", "_serve_inline"): (
        "the stderr fallback is the one hub served inline, on the emitting thread, with no loop"
    ),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: A named tuple's public methods, named with an underscore so as not to clash with fields.
NAMEDTUPLE = frozenset({"_asdict", "_fields", "_field_defaults", "_make", "_replace"})


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in NAMEDTUPLE


def _is_protocol(node: ast.ClassDef) -> bool:
    return any(ast.unparse(base).endswith("Protocol") for base in node.bases)


def _defined_here(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Private names a class or the module itself defines in this module (a ``Protocol``'s
    declarations define nothing), and the module's class names."""
    names: set[str] = set()
    classes: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            classes.add(node.name)
            if _is_protocol(node):
                skip.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
    return {n for n in names if _is_private(n)}, classes


def _type_name(annotation: ast.expr) -> str:
    """The class an annotation names, as written (``Telemetry`` for ``"Telemetry | None"``)."""
    text = ast.unparse(annotation).strip("'\"")
    return text.split("[")[0].split(" | ")[0]


def _element_type(annotation: ast.expr) -> str | None:
    """The element class of a container annotation (``Telemetry`` for ``WeakSet[Telemetry]``)."""
    if isinstance(annotation, ast.Subscript):
        inner = annotation.slice
        if isinstance(inner, ast.Tuple):
            inner = inner.elts[-1]
        return _type_name(inner)
    return None


def _annotations(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """A function's parameters to the class their annotation names (as written)."""
    out = {}
    for arg in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
        if arg.annotation is not None:
            out[arg.arg] = _type_name(arg.annotation)
    return out


def _accesses(tree: ast.Module) -> list[tuple[ast.Attribute, dict[str, str]]]:
    """Every private attribute access, with the types of the names in scope: annotated
    parameters and variables, ``x = SomeClass(...)``, and ``for x in c`` (or ``list(c)``)
    where ``c`` is a module-level name annotated as a container."""
    out: list[tuple[ast.Attribute, dict[str, str]]] = []
    containers: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            element = _element_type(node.annotation)
            if element is not None:
                containers[node.target.id] = element

    def note(node: ast.AST, scope: dict[str, str]) -> None:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            scope[node.target.id] = _type_name(node.annotation)
            element = _element_type(node.annotation)
            if element is not None:
                scope["[]" + node.target.id] = element
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            called = value.func if isinstance(value, ast.Call) else None
            if isinstance(target, ast.Name) and isinstance(called, ast.Name):
                scope[target.id] = called.id
        elif isinstance(node, (ast.For, ast.AsyncFor)) and isinstance(node.target, ast.Name):
            source = node.iter
            if isinstance(source, ast.Call) and source.args:
                source = source.args[0]
            if isinstance(source, ast.Name):
                element = scope.get("[]" + source.id) or containers.get(source.id)
                if element is not None:
                    scope[node.target.id] = element

    def visit(node: ast.AST, scope: dict[str, str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = {**scope, **_annotations(node)}
        note(node, scope)
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            out.append((node, dict(scope)))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(tree, {})
    return out


def private_reads() -> list[tuple[str, int, str, str, bool]]:
    """Every ``obj._name`` in the package with ``obj`` not ``self`` / ``cls``: (module, line,
    receiver, member, whether the member is another module's).

    A member is this module's when this module defines it and no other module does; a name
    that several modules define is this module's only when the receiver's type is known (see
    :func:`_accesses`) to be a class of this module."""
    trees = {
        _module_name(path): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    defined = {module: _defined_here(tree) for module, tree in trees.items()}
    owners: Counter[str] = Counter(n for names, _ in defined.values() for n in names)
    out = []
    for module, tree in trees.items():
        local, classes = defined[module]
        for node, scope in _accesses(tree):
            value = node.value
            if isinstance(value, ast.Name) and value.id in ("self", "cls"):
                continue
            if node.attr not in local:
                foreign = True
            elif owners[node.attr] == 1:
                foreign = False
            else:
                typed = scope.get(value.id) if isinstance(value, ast.Name) else None
                foreign = typed not in classes
            out.append((module, node.lineno, ast.unparse(value), node.attr, foreign))
    return out


def cross_module_reads() -> list[tuple[str, int, str, str]]:
    """The reads of another module's private members that are not an allowed seam."""
    return [
        (module, line, receiver, attr)
        for module, line, receiver, attr, foreign in private_reads()
        if foreign and (receiver, attr) not in STDLIB and (module, receiver, attr) not in ALLOWED
    ]


def test_no_module_reads_another_modules_private_members() -> None:
    """Modules meet at public methods and small public seam objects: a read of another
    module's ``_private`` member outside the documented allow-list fails here."""
    assert private_reads(), "the package was scanned"
    assert cross_module_reads() == []


def test_the_allow_list_holds_only_what_is_used() -> None:
    """Every allowed seam is still read somewhere, so the list cannot grow stale."""
    used = {(m, r, a) for m, _, r, a, foreign in private_reads() if foreign}
    assert set(ALLOWED) <= used
    assert set(STDLIB) <= {(r, a) for _, r, a in used}


if __name__ == "__main__":
    reads = cross_module_reads()
    for module, line, receiver, attr in reads:
        print(f"{module}:{line}: {receiver}.{attr}")
    members = Counter(attr for _, _, _, attr in reads)
    print(
        f"\n{len(reads)} reads of another module's private members "
        f"({len(members)} distinct members) outside the allow-list"
    )
    sys.exit(1 if reads else 0)
