"""``python -m telemetry demo``: run the demo, as ``make demo`` does.

From a source checkout, the ``examples`` folder next to the ``telemetry`` package (the
repository root) holds it: the script is ``examples/demo.py`` when there is one (the chat server
under load, which needs the development environment), else ``examples/quickstart.py``. It runs
with the same interpreter, in a child process whose working directory is the repository root
(where ``make demo`` runs it, so its files land in the same ``logs/`` folder) and whose
``PYTHONPATH`` starts with that root (so it imports this very ``telemetry``).

From an installed wheel there is no ``examples`` folder: the wheel ships the quickstart
(``examples/quickstart.py``, as ``telemetry/cli/_quickstart.py``), which needs no extra; it runs
in the current folder and writes ``logs/quickstart.jsonl`` there. Arguments after ``demo`` are
passed on to the script.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

__all__ = ["DEMO_SCRIPTS", "SHIPPED_QUICKSTART", "demo_script", "find_examples", "run_demo"]

DEMO_SCRIPTS = ("demo.py", "quickstart.py")
"""The scripts ``demo`` looks for in ``examples/``, the first that exists wins."""
PROG = "python -m telemetry"
SHIPPED_QUICKSTART = Path(__file__).resolve().with_name("_quickstart.py")
"""The quickstart as the wheel ships it (absent from a source checkout, which has examples/)."""


def find_examples() -> Path | None:
    """The repository's ``examples`` folder, or ``None`` when running from an installed wheel."""
    folder = Path(__file__).resolve().parents[2] / "examples"
    return folder if folder.is_dir() else None


def demo_script(examples: Path) -> Path | None:
    """The script to run in ``examples``: the first of `DEMO_SCRIPTS` that exists."""
    for name in DEMO_SCRIPTS:
        script = examples / name
        if script.is_file():
            return script
    return None


def run_demo(args: Sequence[str], *, err: TextIO, examples: Path | None = None) -> int:
    """Run the demo script with ``args``; return its exit status."""
    folder = examples if examples is not None else find_examples()
    script = demo_script(folder) if folder is not None else None
    env = dict(os.environ)
    if folder is not None and script is not None:
        cwd = folder.parent
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(cwd), env.get("PYTHONPATH")) if p)
    elif examples is None and SHIPPED_QUICKSTART.is_file():  # an installed wheel
        script, cwd = SHIPPED_QUICKSTART, Path.cwd()
        err.write(f"{PROG} demo: the quickstart, writing logs/quickstart.jsonl in {cwd}\n")
    else:
        err.write(
            f"{PROG} demo: no examples/{' or examples/'.join(DEMO_SCRIPTS)} next to the "
            "telemetry package; the demo runs from a source checkout (make demo)\n"
        )
        return 2
    proc = subprocess.Popen([sys.executable, str(script), *args], cwd=cwd, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # the child got the same Ctrl-C; let it finish its shutdown
        return proc.wait()
