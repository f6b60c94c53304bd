"""A synchronous program with threads: ``with tel.Telemetry(...)`` runs the hub on an event loop
of its own in a background thread, and ordinary threads emit with the ``*_nowait`` forms (and
through ``logging``).

The ``*_nowait`` forms never wait for the event loop: the signal is built in the calling thread
(with that thread's bound context) and handed to the loop, which queues it for the handlers.
Leaving the block, on the main thread, writes everything that was handed over.

Run: ``python examples/threads_sync.py`` (needs ``pip install aiotelemetry``, no extra); the
signals go to ``logs/threads_sync.jsonl``.
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import telemetry as tel
from telemetry.integrations.logging import install_logging_bridge, uninstall_logging_bridge
from telemetry.sinks import FileSink

LOG = Path("logs/threads_sync.jsonl")
THREADS = 6
ORDERS_PER_THREAD = 25


def handle_order(order: int) -> None:
    with tel.bind(order=order), tel.span("order") as span:
        tel.log_nowait("info", "order received", items=order % 5 + 1)
        time.sleep(0.001)  # blocking work is fine here: this is a worker thread
        if order % 17 == 0:
            tel.error_nowait(LookupError(f"order {order}: unknown customer"))
            span.set(outcome="rejected")
            return
        if order % 10 == 0:
            logging.getLogger("billing").warning("order %d paid late", order)
        tel.event_nowait("order.shipped", order=order)
        span.set(outcome="shipped")


def main() -> tel.Stats:
    with tel.Telemetry(handlers={"file": FileSink(LOG)}) as hub:
        bridge = install_logging_bridge("info", hub=hub)
        try:
            with ThreadPoolExecutor(THREADS, thread_name_prefix="orders") as pool:
                list(pool.map(handle_order, range(1, THREADS * ORDERS_PER_THREAD + 1)))
        finally:
            uninstall_logging_bridge(bridge)
    return hub.stats()


if __name__ == "__main__":
    stats = main()
    lines = len(LOG.read_text().splitlines())
    print(f"{LOG}: {lines} lines", file=sys.stderr)
    for name, h in stats.handlers.items():
        print(
            f"handler {name}: emitted={h.emitted} written={h.written} dropped={h.dropped_total}",
            file=sys.stderr,
        )
