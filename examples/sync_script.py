"""A plain synchronous script: no asyncio in sight.

``with tel.Telemetry(...)`` runs the hub on an event loop of its own in a background thread;
the script emits with the ``*_nowait`` creators, ``bind``, a sync span and ``@traced``, from the
main thread and from worker threads. Leaving the block writes everything and stops the thread.

Run: ``python examples/sync_script.py`` (needs ``pip install aiotelemetry``, no extra):
readable lines on the terminal (JSON lines when stderr is not one), and JSON lines in
``logs/sync_script.jsonl``.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

import telemetry as tel
from telemetry.sinks import ConsoleSink, FileSink

PRICES = {"apple": 3, "pear": 4, "fig": 0}


@tel.traced("price.lookup")
def unit_price(item: str) -> int:
    return PRICES[item]


def order_total(item: str, qty: int) -> float:
    with tel.bind(item=item):
        per_unit = unit_price(item)
        tel.log_nowait("debug", "priced", per_unit=per_unit)
        return qty / per_unit * per_unit  # a fig costs nothing: ZeroDivisionError


def main() -> None:
    handlers = {"file": FileSink("logs/sync_script.jsonl"), "console": ConsoleSink()}
    hub = tel.Telemetry(handlers=handlers, min_level="debug")
    with hub, tel.bind(run="nightly"), tel.span("orders") as span:
        tel.log_nowait("info", "run started", orders=len(PRICES))
        with ThreadPoolExecutor(2) as pool:
            # A new thread starts with an empty context: hand it a copy of this one, so
            # that its signals carry the bound values and the span.
            jobs = [("apple", 2), ("pear", 5)]
            futures = [
                pool.submit(contextvars.copy_context().run, order_total, item, qty)
                for item, qty in jobs
            ]
            totals = [f.result() for f in futures]
        span.set(total=sum(totals))
        try:
            order_total("fig", 1)
        except ZeroDivisionError:
            tel.exception_nowait("order failed", item="fig")
    stats = hub.stats()
    for name, h in stats.handlers.items():
        print(f"{name}: written={h.written} dropped={h.dropped_total}")


if __name__ == "__main__":
    main()
