"""``python -m telemetry demo``: run the demo from a source checkout, as ``make demo`` does.

The ``examples`` folder is looked up next to the ``telemetry`` package (the repository root);
it is not part of the installed wheel. The script is ``examples/demo.py`` when there is one,
else ``examples/quickstart.py``. It runs with the same interpreter, in a child process whose
working directory is the repository root (where ``make demo`` runs it, so its files land in
the same ``logs/`` folder) and whose ``PYTHONPATH`` starts with that root (so it imports this
very ``telemetry``). Arguments after ``demo`` are passed on to the script.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

__all__ = ["DEMO_SCRIPTS", "demo_script", "find_examples", "run_demo"]

#: The scripts ``demo`` looks for in ``examples/``, the first that exists wins.
DEMO_SCRIPTS = ("demo.py", "quickstart.py")
PROG = "python -m telemetry"


def find_examples() -> Path | None:
    """The repository's ``examples`` folder, or ``None`` when running from an installed wheel."""
    folder = Path(__file__).resolve().parents[2] / "examples"
    return folder if folder.is_dir() else None


def demo_script(examples: Path) -> Path | None:
    """The script to run in ``examples``: the first of :data:`DEMO_SCRIPTS` that exists."""
    for name in DEMO_SCRIPTS:
        script = examples / name
        if script.is_file():
            return script
    return None


def run_demo(args: Sequence[str], *, err: TextIO, examples: Path | None = None) -> int:
    """Run the demo script with ``args``; return its exit status."""
    folder = examples if examples is not None else find_examples()
    script = demo_script(folder) if folder is not None else None
    if folder is None or script is None:
        err.write(
            f"{PROG} demo: no examples/{' or examples/'.join(DEMO_SCRIPTS)} next to the "
            "telemetry package; the demo runs from a source checkout (make demo)\n"
        )
        return 2
    root = folder.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, str(script), *args], cwd=root, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # the child got the same Ctrl-C; let it finish its shutdown
        return proc.wait()
