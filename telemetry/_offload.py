"""Blocking work sent to a worker thread, or run in place when the interpreter refuses new
threads.

Python 3.12 and later refuse to start a thread from an ``atexit`` handler ("can't create new
thread at interpreter shutdown"), and 3.12's first releases also from any thread once the main
thread has finished. A hub closed at exit (the exit fallback, or a program whose loop ends
there) still has a file to close, a last batch to encode, a directory to sync: that work then
runs on the calling thread, where nothing else is waiting for the loop any more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

__all__ = ["off_loop"]

T = TypeVar("T")

#: What ``threading.Thread.start`` raises when the interpreter refuses new threads.
_NO_NEW_THREADS = "can't create new thread at interpreter shutdown"


async def off_loop(fn: Callable[..., T], *args: object, abandon_on_cancel: bool = False) -> T:
    """``await anyio.to_thread.run_sync(fn, *args)``; ``fn(*args)`` on this thread when no
    thread can be started (see the module).

    Args:
        fn: The blocking function.
        *args: Its arguments.
        abandon_on_cancel: As for ``anyio.to_thread.run_sync``.

    Returns:
        What ``fn`` returned.
    """
    try:
        return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=abandon_on_cancel)
    except RuntimeError as exc:
        if str(exc) != _NO_NEW_THREADS:
            raise
    return fn(*args)
