"""Plain asyncio, no web framework: a pool of workers taking jobs from a queue.

Each job runs in a span with its id bound into the context, so every signal it emits (including
the records of a library that logs through the standard ``logging`` module, brought in by the
bridge) carries ``job`` and the span's trace. Failed jobs are recorded as errors.

Run: ``python examples/plain_asyncio.py`` (needs ``pip install aiotelemetry``, no extra); the
signals go to ``logs/plain_asyncio.jsonl`` and warnings and errors to the console.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from pathlib import Path

import telemetry as tel
from telemetry.integrations.logging import install_logging_bridge, uninstall_logging_bridge
from telemetry.sinks import ConsoleSink, FileSink

LOG = Path("logs/plain_asyncio.jsonl")
JOBS = 40
WORKERS = 4

library = logging.getLogger("resizer")  # stands for any library that uses logging


async def resize(job: int) -> int:
    """The work: sometimes slow, sometimes broken."""
    await asyncio.sleep(random.uniform(0.001, 0.01))
    if job % 13 == 0:
        raise ValueError(f"image {job} is not an image")
    if job % 7 == 0:
        library.warning("image %d is large, resizing in two passes", job, extra={"passes": 2})
    return job * 100


async def worker(name: str, jobs: asyncio.Queue[int]) -> None:
    while True:
        job = await jobs.get()
        try:
            with tel.bind(job=job, worker=name):
                async with tel.span("job.resize") as span:
                    try:
                        size = await resize(job)
                    except ValueError as exc:
                        await tel.error(exc, id="job.failed")
                        span.set(outcome="failed")
                    else:
                        await tel.log("info", "resized", bytes=size)
                        span.set(outcome="ok")
        finally:
            jobs.task_done()


async def main() -> tel.Stats:
    hub = tel.Telemetry(
        handlers={
            "file": FileSink(LOG),
            "console": {"sink": ConsoleSink(format="text"), "min_level": "warn"},
        }
    )
    async with hub:
        bridge = install_logging_bridge("info", hub=hub)
        try:
            jobs: asyncio.Queue[int] = asyncio.Queue()
            for job in range(1, JOBS + 1):
                jobs.put_nowait(job)
            workers = [asyncio.create_task(worker(f"w{i}", jobs)) for i in range(WORKERS)]
            await jobs.join()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            uninstall_logging_bridge(bridge)
    return hub.stats()


if __name__ == "__main__":
    stats = asyncio.run(main())
    lines = len(LOG.read_text().splitlines())
    print(f"\n{LOG}: {lines} lines", file=sys.stderr)
    for name, h in stats.handlers.items():
        print(
            f"handler {name:8} emitted={h.emitted} written={h.written} dropped={h.dropped_total}",
            file=sys.stderr,
        )
