"""OTLP export: aiotelemetry's OTLPSink beside the OpenTelemetry SDK, in the same run.

    python bench/otlp.py [N] [ROUNDS]     # default 20000 signals, 3 rounds

Each run starts a fresh OTLP/HTTP receiver (tests/sinks/otlp_receiver.py) in a child process on
loopback, which decodes every request with opentelemetry-proto and counts the records, then
sends N log records with three attributes from an asyncio app loop that awaits nothing else:

- ``aiotelemetry``: ``await tel.log("info", "order placed", ...)`` into an ``OTLPSink``
  (http/protobuf) on a handler in ``blocking`` mode (nothing may be dropped);
- ``otel-sdk``: the SDK's ``Logger.emit(...)`` with a ``BatchLogRecordProcessor`` and its
  ``OTLPLogExporter`` (http/protobuf), in its default configuration, and in a configuration
  sized not to drop (``max_queue_size`` = N, at least its default 2,048).

For each: the app loop's cost per call (the median over the calls, each timed alone), the
export rate (N over the time from the first call to the end of ``aclose`` / ``shutdown``, when
everything has been sent), the longest the loop was held while the calls ran (a task asking
for 1 ms sleeps and notes how late it wakes), and how many records the receiver got. The
ratio is taken within a round, then the median over rounds; configurations alternate their
order between rounds.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import telemetry as tel  # noqa: E402
from telemetry.sinks import OTLPSink  # noqa: E402

CONFIGS = ("aiotelemetry", "otel-sdk", "otel-sdk (no-drop queue)")
RECEIVER = ROOT / "tests" / "sinks" / "otlp_receiver.py"
_ns = time.perf_counter_ns


class LoopLag:
    """The longest time the loop took to come back to a task that asked to sleep 1 ms, beyond
    that 1 ms, while the calls run: the longest step some other callback held the loop."""

    def __enter__(self) -> LoopLag:
        self.max_us = 0.0
        self._task = asyncio.ensure_future(self._watch())
        return self

    async def _watch(self) -> None:
        while True:
            t0 = _ns()
            await asyncio.sleep(0.001)
            lag = (_ns() - t0) / 1000 - 1000
            self.max_us = max(self.max_us, lag)

    def __exit__(self, *exc: object) -> None:
        self._task.cancel()


class Receiver:
    """The loopback receiver in a child process."""

    def __enter__(self) -> Receiver:
        self.proc = subprocess.Popen(
            [sys.executable, str(RECEIVER), "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if line[:1] != ["listening"]:
            self.proc.kill()
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.endpoint = f"http://127.0.0.1:{line[1]}"
        return self

    def records(self) -> int:
        """Stop the receiver; the records it accepted."""
        out, _ = self.proc.communicate(timeout=60)
        return int(out.split()[-1])

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


async def _ours(endpoint: str, n: int) -> tuple[list[int], float, dict[str, Any]]:
    sink = OTLPSink(endpoint, env={}, service_name="bench")
    hub = tel.Telemetry(handlers={"otlp": {"sink": sink, "mode": "blocking"}})
    per_call = []
    async with hub:
        t0 = time.perf_counter()
        with LoopLag() as lag:
            for i in range(n):
                c0 = _ns()
                await hub.log("info", "order placed", order=i, total="12.50", user="ada")
                per_call.append(_ns() - c0)
        stats = await hub.aclose()
        elapsed = time.perf_counter() - t0
    h = stats.handlers["otlp"]
    return per_call, elapsed, {"written": h.written, "dropped": h.dropped, "lag_us": lag.max_us}


async def _sdk(endpoint: str, n: int, queue: int | None) -> tuple[list[int], float, dict[str, Any]]:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": "bench"}))
    options = {} if queue is None else {"max_queue_size": queue}
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"), **options)
    )
    logger = provider.get_logger("bench")
    per_call = []
    t0 = time.perf_counter()
    with LoopLag() as lag:
        for i in range(n):
            c0 = _ns()
            logger.emit(
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body="order placed",
                attributes={"order": i, "total": "12.50", "user": "ada"},
            )
            per_call.append(_ns() - c0)
            await asyncio.sleep(0)  # what an awaited call gives the loop at least
    provider.shutdown()  # blocks the loop until the queue is exported
    elapsed = time.perf_counter() - t0
    return per_call, elapsed, {"lag_us": lag.max_us}


def one_run_sync(config: str, n: int) -> dict[str, Any]:
    """One configuration, ``n`` records, against a fresh receiver."""
    with Receiver() as rx:
        gc.collect()
        if config == "aiotelemetry":
            per_call, elapsed, extra = asyncio.run(_ours(rx.endpoint, n))
        else:
            queue = max(n, 2048) if "no-drop" in config else None
            per_call, elapsed, extra = asyncio.run(_sdk(rx.endpoint, n, queue))
        received = rx.records()
    return {
        "config": config,
        "n": n,
        "received": received,
        "lost": n - received,
        "rate": received / elapsed,
        "elapsed_s": elapsed,
        "p50_us": statistics.median(per_call) / 1000,
        "p99_us": sorted(per_call)[int(0.99 * (len(per_call) - 1))] / 1000,
        "max_us": max(per_call) / 1000,
        **extra,
    }


async def one_run(config: str, n: int) -> dict[str, Any]:
    """:func:`one_run_sync` from async code (in a thread: each run has a loop of its own)."""
    return await asyncio.to_thread(one_run_sync, config, n)


def compare(n: int, rounds: int = 3) -> dict[str, Any]:
    """Every configuration, ``rounds`` times in alternating order; ratios within a round."""
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    for r in range(rounds):
        order = CONFIGS if r % 2 == 0 else tuple(reversed(CONFIGS))
        for config in order:
            res = one_run_sync(config, n)
            results[config].append(res)
            print(
                f"round {r + 1} {config:26s} rate {res['rate']:>9,.0f}/s  "
                f"per call p50 {res['p50_us']:6.2f} us  p99 {res['p99_us']:7.2f} us  "
                f"max {res['max_us']:9.1f} us  loop lag max {res['lag_us']:8.1f} us  "
                f"received {res['received']}/{n}",
                flush=True,
            )
    summary: dict[str, Any] = {"n": n, "rounds": rounds, "configs": {}}
    for config, runs in results.items():
        summary["configs"][config] = {
            "rate": statistics.median(x["rate"] for x in runs),
            "p50_us": statistics.median(x["p50_us"] for x in runs),
            "p99_us": statistics.median(x["p99_us"] for x in runs),
            "max_us": statistics.median(x["max_us"] for x in runs),
            "lag_us": statistics.median(x["lag_us"] for x in runs),
            "lost": [x["lost"] for x in runs],
        }
    ours = results["aiotelemetry"]
    for config in CONFIGS[1:]:
        theirs = results[config]
        summary[f"rate ratio vs {config}"] = statistics.median(
            a["rate"] / b["rate"] for a, b in zip(ours, theirs, strict=True)
        )
        summary[f"per-call p50 ratio vs {config}"] = statistics.median(
            b["p50_us"] / a["p50_us"] for a, b in zip(ours, theirs, strict=True)
        )
    return summary


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 20_000
    rounds = int(argv[1]) if len(argv) > 1 else 3
    summary = compare(n, rounds)
    print()
    for config, s in summary["configs"].items():
        print(
            f"{config:26s} median rate {s['rate']:>9,.0f}/s  per call p50 {s['p50_us']:6.2f} us"
            f"  p99 {s['p99_us']:7.2f} us  max {s['max_us']:9.1f} us"
            f"  loop lag max {s['lag_us']:8.1f} us  lost {s['lost']}"
        )
    for key, value in summary.items():
        if "ratio" in key:
            print(f"{key}: {value:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
