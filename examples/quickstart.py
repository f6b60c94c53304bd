"""The quickstart: signals to a JSON-lines file and the console, then the handler stats.

Run: ``python examples/quickstart.py`` (needs ``pip install aiotelemetry``, no extra; an
installed package runs it as ``python -m telemetry demo``). The signals go to
``logs/quickstart.jsonl``, warnings and errors to the console.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import telemetry as tel
from telemetry.sinks import ConsoleSink, FileSink

LOG = Path("logs/quickstart.jsonl")


async def handle_order(order_id: int) -> None:
    async with tel.span("order.handle", order_id=order_id):
        await tel.log("info", "order received", order_id=order_id, items=3)
        if order_id % 4 == 0:
            try:
                raise ValueError(f"order {order_id} has no address")
            except ValueError as exc:
                await tel.error(exc, id="order.invalid")
        await tel.event("order.done", order_id=order_id)


async def main() -> tel.Stats:
    hub = tel.Telemetry(
        handlers={
            "file": FileSink(LOG),
            "console": {"sink": ConsoleSink(format="text"), "min_level": "warn"},
        },
        min_level="info",
    )
    async with hub:
        with tel.bind(session="demo"):
            await asyncio.gather(*(handle_order(i) for i in range(1, 9)))
        await tel.log("debug", "refused: below the hub's level")
    return hub.stats()


def report(stats: tel.Stats) -> None:
    lines = LOG.read_text().splitlines()
    print(f"\nwrote {LOG} ({len(lines)} lines in total)", file=sys.stderr)
    for name, h in stats.handlers.items():
        print(
            f"handler {name:8} emitted={h.emitted} written={h.written} dropped={h.dropped_total} "
            f"batches={h.batches} write p50={h.latency.p50_us:.0f}us p99={h.latency.p99_us:.0f}us",
            file=sys.stderr,
        )


if __name__ == "__main__":
    report(asyncio.run(main()))
