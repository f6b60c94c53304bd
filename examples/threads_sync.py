"""A synchronous program with threads: the hub runs on an event loop in a background thread,
and ordinary threads emit with the ``*_nowait`` forms (and through ``logging``).

The ``*_nowait`` forms never wait for the event loop: the signal is built in the calling thread
(with that thread's bound context) and handed to the loop, which queues it for the handlers.
Closing the hub, from the main thread, writes everything that was handed over.

Run with ``python examples/threads_sync.py``; the signals go to ``logs/threads_sync.jsonl``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import telemetry as tel
from telemetry.integrations.logging import install_logging_bridge, uninstall_logging_bridge
from telemetry.sinks import FileSink

LOG = Path("logs/threads_sync.jsonl")
THREADS = 6
ORDERS_PER_THREAD = 25


class BackgroundHub:
    """A hub opened on a loop of its own, in a daemon thread, for a program that has no loop."""

    def __init__(self, hub: tel.Telemetry) -> None:
        self.hub = hub
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="telemetry", daemon=True)

    def __enter__(self) -> tel.Telemetry:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.hub.open(), self.loop).result()
        return self.hub

    def __exit__(self, *exc: object) -> None:
        self.stats = asyncio.run_coroutine_threadsafe(self.hub.aclose(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


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
    background = BackgroundHub(tel.Telemetry(handlers={"file": FileSink(LOG)}))
    with background as hub:
        bridge = install_logging_bridge("info", hub=hub)
        try:
            with ThreadPoolExecutor(THREADS, thread_name_prefix="orders") as pool:
                list(pool.map(handle_order, range(1, THREADS * ORDERS_PER_THREAD + 1)))
        finally:
            uninstall_logging_bridge(bridge)
    return background.stats


if __name__ == "__main__":
    stats = main()
    lines = len(LOG.read_text().splitlines())
    print(f"{LOG}: {lines} lines", file=sys.stderr)
    for name, h in stats.handlers.items():
        print(
            f"handler {name}: emitted={h.emitted} written={h.written} dropped={h.dropped_total}",
            file=sys.stderr,
        )
