"""How long the library holds the event loop while signals flow into a file, per format.

    .venv/bin/python bench/loop_callbacks.py [N]        (N signals per format, default 100,000)

For each format (json, text, logfmt) two runs of the same flood: N awaited ``hub.log`` calls in
bursts of 1,000 with one loop iteration between bursts (the flood of ``bench/scenarios.py``),
into one blocking-mode handler on a :class:`~telemetry.sinks.FileSink`, so nothing is dropped
whatever the hub's default mode.

- In asyncio debug mode with ``slow_callback_duration`` at 5 ms, the run counts the
  ``Executing <...> took X seconds`` warnings the ``asyncio`` logger gives for callbacks of the
  library (the flood's own bursts are callbacks too, and are left out: they are the app's) and
  the longest of them. Those are wall-clock times: on a machine shared with other work, a
  callback the scheduler preempted looks slow too, so the table also says how many of them
  spent over 5 ms on the CPU (the thread's own CPU time while the callback ran), which only
  the library's own work can do.
- Without debug mode (which slows every callback), signals per second from the first call until
  ``aclose()`` returns, every line written; then again while another task of the app keeps the
  loop busy (about 50 µs of CPU per iteration, never idle), the case where a thread that needs
  the GIL waits for the switch interval.

Only the counts (signals written, lines in the file) are checked; the times are reported.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from telemetry import Telemetry
from telemetry.sinks import FileSink

FORMATS = ("json", "text", "logfmt")
SLOW_CALLBACK_S = 0.005
BURST = 1000
_TOOK = re.compile(r"took ([0-9.]+) seconds")


@dataclass
class Result:
    """What one format's runs measured."""

    format: str
    signals: int
    written: int
    lines: int
    slow: int  # library callbacks longer than SLOW_CALLBACK_S
    worst_ms: float  # the longest of them (0 when there were none)
    slow_cpu: int  # those of them that spent over SLOW_CALLBACK_S on the CPU
    rate: float  # signals per second, first call to aclose(), debug mode off
    busy_rate: float  # the same while another task keeps the loop busy


class _SlowCallbacks(logging.Handler):
    """Collects asyncio's slow-callback warnings, keeping the library's apart from the flood's,
    with the CPU time of each (asyncio logs the warning right after the callback returns)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.library: list[tuple[float, float]] = []  # (wall, cpu) seconds
        self.app: list[tuple[float, float]] = []
        self.last_cpu = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        found = _TOOK.search(text)
        if not text.startswith("Executing") or found is None:
            return
        # The flood's task is the app: its bursts are as long as the app makes them.
        took = (float(found.group(1)), self.last_cpu)
        (self.app if " coro=<flood()" in text else self.library).append(took)

    def watch_cpu(self) -> Callable[[], None]:
        """Time every callback's CPU time until the returned function is called."""
        handle_run = asyncio.events.Handle._run

        def run(handle: asyncio.events.Handle) -> None:
            t0 = time.thread_time()
            try:
                handle_run(handle)
            finally:
                self.last_cpu = time.thread_time() - t0

        asyncio.events.Handle._run = run  # type: ignore[method-assign]

        def restore() -> None:
            asyncio.events.Handle._run = handle_run  # type: ignore[method-assign]

        return restore


async def flood(hub: Telemetry, n: int) -> None:
    """``n`` awaited calls in bursts, one loop iteration between bursts."""
    i = 0
    while i < n:
        for j in range(i, min(i + BURST, n)):
            await hub.log("info", "request served", i=j, path="/api/items", status=200, ms=1.25)
        i += BURST
        await asyncio.sleep(0)


async def busy(done: asyncio.Event) -> None:
    """Other work of the app: about 50 µs of CPU per loop iteration, so the loop never idles."""
    while not done.is_set():
        sum(range(1000))
        await asyncio.sleep(0)


async def _run(path: Path, fmt: str, n: int, *, busy_loop: bool = False) -> tuple[int, float]:
    sink = FileSink(path, format=fmt)
    hub = Telemetry(handlers={"f": {"sink": sink, "mode": "blocking"}}, location=False)
    loop = asyncio.get_running_loop()
    watched, loop.slow_callback_duration = loop.slow_callback_duration, 3600.0
    await hub.open()  # opening is not part of the flow; the flow is what is watched
    loop.slow_callback_duration = watched
    done = asyncio.Event()
    other = asyncio.create_task(busy(done)) if busy_loop else None
    t0 = time.perf_counter()
    await asyncio.create_task(flood(hub, n))
    stats = await hub.aclose()
    elapsed = time.perf_counter() - t0
    done.set()
    if other is not None:
        await other
    h = stats.handlers["f"]
    assert h.emitted == h.written + h.dropped_total, h
    return h.written, elapsed


def measure(fmt: str, n: int, folder: Path) -> Result:
    """Run the flood for one format twice: debug mode (slow callbacks), then plain (rate)."""
    watcher = _SlowCallbacks()
    log = logging.getLogger("asyncio")
    log.addHandler(watcher)
    restore = watcher.watch_cpu()
    try:
        with asyncio.Runner(debug=True) as runner:
            runner.get_loop().slow_callback_duration = SLOW_CALLBACK_S
            written, _ = runner.run(_run(folder / f"debug.{fmt}", fmt, n))
    finally:
        restore()
        log.removeHandler(watcher)
    lines = len((folder / f"debug.{fmt}").read_bytes().splitlines())
    with asyncio.Runner(debug=False) as runner:
        plain_written, elapsed = runner.run(_run(folder / f"plain.{fmt}", fmt, n))
    with asyncio.Runner(debug=False) as runner:
        busy_written, busy_elapsed = runner.run(
            _run(folder / f"busy.{fmt}", fmt, n, busy_loop=True)
        )
    slow = watcher.library
    return Result(
        format=fmt,
        signals=n,
        written=min(written, plain_written, busy_written),
        lines=lines,
        slow=len(slow),
        worst_ms=max((wall for wall, _ in slow), default=0.0) * 1000,
        slow_cpu=sum(cpu > SLOW_CALLBACK_S for _, cpu in slow),
        rate=plain_written / elapsed,
        busy_rate=busy_written / busy_elapsed,
    )


def main(argv: list[str] | None = None) -> list[Result]:
    """Measure every format with N signals (``argv[0]``, default 100,000); print a table."""
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 100_000
    # asyncio's logger would print every warning; the table says it all.
    asyncio_log = logging.getLogger("asyncio")
    propagate, asyncio_log.propagate = asyncio_log.propagate, False
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="tel-loop-") as tmp:
            for fmt in FORMATS:
                results.append(measure(fmt, n, Path(tmp)))
    finally:
        asyncio_log.propagate = propagate
    print(
        f"python {sys.version.split()[0]}, {n:,} signals per format; slow: library callbacks "
        "over 5 ms (wall clock), on CPU: of those, over 5 ms of CPU time"
    )
    print(
        f"{'format':<8} {'written':>9} {'slow':>6} {'worst ms':>9} {'on CPU':>7} "
        f"{'signals/s':>11} {'busy loop':>10}"
    )
    for r in results:
        print(
            f"{r.format:<8} {r.written:>9,} {r.slow:>6} {r.worst_ms:>9.1f} {r.slow_cpu:>7} "
            f"{r.rate:>11,.0f} {r.busy_rate:>10,.0f}"
        )
    return results


if __name__ == "__main__":
    main()
