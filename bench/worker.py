"""One library, one scenario, in a fresh interpreter: ``python -m bench.worker LIB SCENARIO SIZES``.

Prints one line ``RESULT {json}`` and exits with ``os._exit`` so that a library whose shutdown
is still stuck in a thread (a backlog behind a slow sink) cannot hold the run up at exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback

from .libs import LIBS
from .scenarios import run_one

MARK = "RESULT "


def main(argv: list[str]) -> None:
    """Run the scenario named in ``argv`` and print its result."""
    key, scenario, sizes = argv[0], argv[1], json.loads(argv[2])
    try:
        res = asyncio.run(run_one(LIBS[key], scenario, sizes))
    except Exception as exc:  # reported in the table, never hidden
        traceback.print_exc()
        res = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(MARK + json.dumps(res) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
