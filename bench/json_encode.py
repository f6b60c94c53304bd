"""What a JSON line costs to encode: the file sink's format against msgspec's own batch call.

    python bench/json_encode.py [--batch 1024] [--repeat 25]

Encodes one batch of ordinary signals (a message, two data values, the call's location: the
lines ``await tel.log(...)`` writes, about 300 bytes each) with ``JsonFormat.encode_batch``,
whose lines start with the RFC 3339 ``"timestamp"``, and with ``msgspec.json.Encoder
.encode_lines`` alone, which is what the format did before it wrote a timestamp (and still
does for the rest of the line). Reported per signal in CPU time of this thread (the least of
``--repeat`` rounds), so other processes on the machine change the figures little.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from telemetry import Location, Signal  # noqa: E402
from telemetry.formats import JsonFormat  # noqa: E402


def batch_of(n: int) -> list[Signal]:
    """``n`` signals as a busy second of ``tel.log("info", "user joined", room=..., n=i)``."""
    start = time.time_ns()
    where = Location(file="/srv/app/chat/rooms.py", line=42, function="join")
    return [
        Signal(
            inst=start + i * 1000,
            uid=f"{i:016x}",
            kind="log",
            level="info",
            host="web-1",
            pid=4242,
            ns="app.chat",
            msg="user joined",
            data={"room": "lobby", "n": i},
            location=where,
        )
        for i in range(n)
    ]


def per_signal_ns(encode: object, n: int, repeat: int) -> float:
    """The least CPU time of one call over ``repeat`` rounds, per signal, in nanoseconds."""
    rounds = timeit.repeat(encode, number=10, repeat=repeat, timer=time.thread_time)  # type: ignore[arg-type]
    return min(rounds) / 10 / n * 1e9


def main(argv: list[str]) -> int:
    """Print the cost per signal of each encoder and the difference."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args(argv)
    batch = batch_of(args.batch)
    plain = msgspec.json.Encoder()
    fmt = JsonFormat()
    size = len(fmt.encode_batch(batch)) / len(batch)
    bare = per_signal_ns(lambda: plain.encode_lines(batch), len(batch), args.repeat)
    stamped = per_signal_ns(lambda: fmt.encode_batch(batch), len(batch), args.repeat)
    print(f"batches of {len(batch)} signals, {size:.0f} bytes a line, CPU time per signal")
    print(f"msgspec encode_lines (no timestamp)   {bare:7.0f} ns")
    print(f"JsonFormat.encode_batch (timestamp)   {stamped:7.0f} ns   +{stamped - bare:.0f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
