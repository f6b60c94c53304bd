"""Where the service's time goes: py-spy on the server of one set-up while wrk loads it.

    python bench/service_profile.py [SETUP] [SECONDS]     # default: aiotelemetry, 10 s

Samples the uvicorn process (``py-spy record --format raw``, 200 samples a second, without
pausing it) for SECONDS under ``wrk -t1 -c32``, then prints the share of the process spent in
aiotelemetry's own work and its top functions (see :func:`top_frames`), in % of all samples.
py-spy is in the bench dependency group.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.service import profiled_run  # noqa: E402

__all__ = ["top_frames"]

#: A frame of aiotelemetry in py-spy's output: ``function (telemetry/module.py:line)``, or of
#: a generated emitter (``<telemetry emit>``).
_OURS = re.compile(r"^(.*) \((telemetry/[^:]*|<telemetry [^>]*>):\d+\)$")
#: Frames of the app a middleware wraps, of the benchmark's endpoints, and of the server that
#: the middleware's ``send`` and ``receive`` forward to: time under them is theirs, not ours.
_APP = ("fastapi/", "starlette/", "bench/", "uvicorn/", "h11/", "websockets/", "wsproto/")


def top_frames(raw: str, n: int = 15) -> tuple[int, int, list[tuple[str, float]]]:
    """From py-spy's collapsed stacks: all samples, samples of our own work, and the top ``n``
    functions of ours as (function, % of all samples), by share.

    A sample is our own work when its innermost frame of ``telemetry/`` has no frame of the
    app or the framework beneath it (what runs beneath is the standard library or msgspec
    doing our work); it is credited to that function, whatever the line.
    """
    total = ours = 0
    own: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = stack.split(";")
        for i in range(len(frames) - 1, -1, -1):
            m = _OURS.match(frames[i])
            if m is None:
                continue
            below = frames[i + 1 :]
            if not any(f"({a}" in f for f in below for a in _APP):
                ours += k
                own[f"{m.group(1)} ({m.group(2)})"] += k
            break
    top = [(f, 100 * c / total) for f, c in own.most_common(n)] if total else []
    return total, ours, top


def main(argv: list[str]) -> int:
    """Profile one set-up and print the top frames of our code."""
    setup = argv[0] if argv else "aiotelemetry"
    seconds = float(argv[1]) if len(argv) > 1 else 10.0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.txt"
        res = profiled_run(setup, seconds, out)
        raw = out.read_text()
    total, ours, top = top_frames(raw)
    print(f"{setup}: {res['rate']:,.0f} req/s under py-spy; {total:,} samples")
    print(f"aiotelemetry's code: {100 * ours / max(total, 1):.1f} % of the process")
    print("| function | % of the process |\n|---|---|")
    for frame, share in top:
        print(f"| `{frame}` | {share:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
