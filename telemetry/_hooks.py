"""Process hooks: what runs in a forked child, and what runs when the interpreter exits.

One registry for both, so that the order is visible in one place: in a forked child the
process facts are refreshed first (pid, uid generator), then locks and threads are replaced,
then hubs forget their parent's loop; at exit, every hub still open writes what it holds, and
only then are the library's own warnings drained. Imports nothing else of the package.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable

__all__ = ["HUBS", "LOCKS", "PROCESS", "WARNINGS", "at_exit", "in_forked_child"]

_child: list[tuple[int, Callable[[], None]]] = []
"""Ordered by stage: lower runs first in a forked child."""
_exit: list[tuple[int, Callable[[], None]]] = []

PROCESS, LOCKS, HUBS, WARNINGS = 0, 1, 2, 3
"""Stages: lower runs first. In a forked child: process facts, then locks and threads, then hubs. At
exit: hubs (which may warn), then the warnings."""


def in_forked_child(hook: Callable[[], None], stage: int = HUBS) -> None:
    """Run ``hook`` in the child after ``fork()``; hooks of a lower ``stage`` run first."""
    _child.append((stage, hook))
    _child.sort(key=lambda item: item[0])


def at_exit(hook: Callable[[], None], stage: int = HUBS) -> None:
    """Run ``hook`` when the interpreter exits; hooks of a lower ``stage`` run first."""
    _exit.append((stage, hook))
    _exit.sort(key=lambda item: item[0])


def _run_child_hooks() -> None:
    for _, hook in _child:
        hook()


def _run_exit_hooks() -> None:
    for _, hook in _exit:
        hook()


os.register_at_fork(after_in_child=_run_child_hooks)
atexit.register(_run_exit_hooks)
