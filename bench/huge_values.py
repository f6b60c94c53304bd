"""How long one huge value holds the event loop, per value shape, format and sink.

    .venv/bin/python bench/huge_values.py [--mb 10] [--shapes ...] [--sinks ...]

For each value shape (a string of ``--mb`` MB with spaces and punctuation, the same with a
newline in every line, bytes, a list of 1M ints, a dict of 100k keys, a list of 1,000 lists of
1,000 ints) and each sink that encodes on the loop (the file sink in each format, syslog over
UDP, journald on a datagram socket of our own, OTLP to the loopback receiver in a child
process), one awaited ``hub.log`` carrying the value through a handler with the default
options, then ``aclose()``. Every callback the loop runs meanwhile is timed, the app's
own call included; the table gives the longest in wall-clock and in CPU time (the
thread's own: a callback the machine's scheduler preempted looks long on the wall clock but
not on the CPU), and the longest gap a task sleeping 1 ms saw (loop lag). The value is built
before the loop starts; nothing but the library runs while it is written.

    .venv/bin/python bench/huge_values.py --ordinary [--repeat 200]

What the look for huge values costs the usual case: a batch of 1,024 ordinary signals written
by ``FileSink.write`` in each format, and made into OTLP requests (log records and spans, in
``http/protobuf`` and ``http/json``, the requests' bytes included, nothing sent), in CPU time
per signal (the least of ``--repeat`` rounds, so that other work on the machine changes it
little). To compare with another checkout, run this file from a copy of it in that checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.otlp import Receiver  # noqa: E402
from telemetry import Telemetry  # noqa: E402
from telemetry.sinks import FileSink, JournaldSink, Sink, SyslogSink  # noqa: E402


def shapes(mb: float) -> dict[str, Callable[[], Any]]:
    """The values, by name, each built when asked for."""
    n = int(mb * 1_000_000)
    line = 'GET /api/items?page=2 user=ada "quoted" ok; '  # 45 characters
    return {
        "str": lambda: (line * (n // len(line) + 1))[:n],
        "str-newlines": lambda: ((line[:-1] + "\n") * (n // len(line) + 1))[:n],
        "bytes": lambda: bytes(range(256)) * (n // 256),
        "list-1M": lambda: list(range(1_000_000)),
        "dict-100k": lambda: {f"key{i}": i for i in range(100_000)},
        "nested-1k-x-1k": lambda: [list(range(1000)) for _ in range(1000)],
    }


class Timings:
    """Times every callback the loop runs (wall clock and the thread's CPU time)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Timings:
        self._run = run = asyncio.events.Handle._run
        timings = self

        def timed(handle: asyncio.events.Handle) -> None:
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                run(handle)
            finally:
                wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
                timings.wall = max(timings.wall, wall)
                timings.cpu = max(timings.cpu, cpu)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._run  # type: ignore[method-assign]


def make_sink(name: str, tmp: Path, otlp: str | None) -> Sink:
    """A sink by its name in the table."""
    if name.startswith("file-"):
        fmt = name.removeprefix("file-")
        return FileSink(tmp / f"out.{fmt}", format=fmt)  # type: ignore[arg-type]
    if name == "syslog-udp":
        return SyslogSink("127.0.0.1", transport="udp", port=_udp_port(tmp))
    if name == "journald":
        return JournaldSink(_journal_socket(tmp))
    if name == "otlp":
        from telemetry.sinks import OTLPSink

        return OTLPSink(otlp, env={}, service_name="bench")
    raise SystemExit(f"unknown sink {name!r}")


_keep: list[socket.socket] = []


def _udp_port(tmp: Path) -> int:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    _keep.append(rx)
    return int(rx.getsockname()[1])


def _journal_socket(tmp: Path) -> str:
    path = str(tmp / "journal.sock")
    if os.path.exists(path):
        os.unlink(path)
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    _keep.append(rx)
    return path


async def _lag(out: list[float]) -> None:
    while True:
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        out[0] = max(out[0], time.perf_counter() - t0 - 0.001)


async def one(sink: Sink, value: Any) -> tuple[float, float, float, int]:
    """Log ``value`` once; the longest callback (wall, CPU), the lag, and signals written."""
    hub = Telemetry(handlers={"h": sink}, location=False, close_timeout=120)
    await hub.open()
    lag = [0.0]
    with Timings() as timings:
        watcher = asyncio.create_task(_lag(lag))

        await hub.log("info", "huge", value=value)
        await hub.aclose()
        watcher.cancel()
    stats = hub.stats().handlers["h"]
    return timings.wall, timings.cpu, lag[0], stats.written


async def _ordinary(fmt: str, folder: Path, repeat: int) -> float:
    from telemetry.testing import make_signal

    batch = [
        make_signal("request served", data={"i": i, "path": "/api/items", "status": 200})
        for i in range(1024)
    ]
    sink = FileSink(folder / f"ordinary.{fmt}", format=fmt)  # type: ignore[arg-type]
    await sink.open()
    best = float("inf")
    for _ in range(repeat):
        c0 = time.thread_time()
        await sink.write(batch)
        best = min(best, time.thread_time() - c0)
    await sink.aclose()
    return best / len(batch)


def _ordinary_otlp(protocol: str, signal: str, repeat: int) -> float:
    """CPU time per signal of making a batch of ordinary signals into OTLP requests."""
    from telemetry.sinks import OTLPSink
    from telemetry.testing import make_signal

    kind = "span" if signal == "traces" else "log"
    batch = [
        make_signal(
            "request served",
            kind=kind,
            data={"i": i, "path": "/api/items", "status": 200},
            trace_id="0af7651916cd43dd8448eb211c80319c",
            span_id="b7ad6b7169203331",
        )
        for i in range(1024)
    ]
    sink = OTLPSink("http://127.0.0.1:9", env={}, service_name="bench", protocol=protocol)
    # The sink's own request path (private: what a write does before it sends).
    enc = sink._encoders[signal]
    best = float("inf")
    for _ in range(repeat):
        c0 = time.thread_time()
        for request in sink._requests(enc, batch):
            if request is not None:
                request.body()
        best = min(best, time.thread_time() - c0)
    return best / len(batch)


def ordinary(repeat: int) -> None:
    """Print the CPU time per signal of writing ordinary batches, per file format and OTLP
    encoding."""
    import telemetry

    print(f"telemetry from {Path(telemetry.__file__).parent}; µs per signal (CPU, least)")
    with tempfile.TemporaryDirectory(prefix="tel-ordinary-") as folder:
        for fmt in ("json", "logfmt", "text"):
            cost = asyncio.run(_ordinary(fmt, Path(folder), repeat))
            print(f"{fmt:<16} {cost * 1e6:8.3f}")
    for protocol, short in (("http/protobuf", "proto"), ("http/json", "json")):
        for signal, what in (("logs", "logs"), ("traces", "spans")):
            cost = _ordinary_otlp(protocol, signal, repeat)
            print(f"{f'otlp-{short}-{what}':<16} {cost * 1e6:8.3f}")


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of str/bytes values (MB)")
    parser.add_argument("--shapes", default=None, help="comma-separated (default: all)")
    parser.add_argument(
        "--sinks",
        default="file-json,file-logfmt,file-text,syslog-udp,journald,otlp",
        help="comma-separated",
    )
    parser.add_argument("--ordinary", action="store_true", help="the cost for ordinary batches")
    parser.add_argument("--repeat", type=int, default=200, help="rounds of --ordinary")
    args = parser.parse_args(argv)
    if args.ordinary:
        ordinary(args.repeat)
        return
    made = shapes(args.mb)
    names = args.shapes.split(",") if args.shapes else list(made)
    sinks = args.sinks.split(",")
    print(f"python {sys.version.split()[0]}; longest callback of ours, ms (wall / CPU), loop lag")
    print(f"{'shape':<15} {'sink':<12} {'wall':>8} {'cpu':>8} {'lag':>8} written")
    with tempfile.TemporaryDirectory(prefix="tel-huge-") as folder, Receiver() as rx:
        tmp = Path(folder)
        for shape in names:
            for name in sinks:
                value = made[shape]()  # a new object: formats remember the repr of the last
                sink = make_sink(name, tmp, rx.endpoint)
                wall, cpu, lag, written = asyncio.run(one(sink, value))
                print(
                    f"{shape:<15} {name:<12} {wall * 1000:>8.1f} {cpu * 1000:>8.1f} "
                    f"{lag * 1000:>8.1f} {written}",
                    flush=True,
                )
                del value


if __name__ == "__main__":
    main()
