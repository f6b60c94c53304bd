"""The service benchmark: a FastAPI app under uvicorn, loaded by wrk, set-ups side by side.

    python bench/service.py                 # make bench-app: 3 rounds of 10 s per set-up
    python bench/service.py --seconds 3 --rounds 1 --setups bare,aiotelemetry

Each set-up (:data:`bench.service_app.SETUPS`) is served by its own uvicorn process (one
worker, access log off; :mod:`bench.service_app`) and loaded for ``--seconds`` after a
1 s warm-up: HTTP set-ups by ``wrk -t1 -c32 --latency`` on ``GET /items/1``, websocket
set-ups by :func:`ws_client` in another process (8 connections, each sending a message and
waiting for its echo). Rounds run the set-ups in alternating order (forward, reverse, ...) and
each set-up's throughput and p99 are divided by bare's of the same round (HTTP set-ups by
``bare``, websocket ones by ``ws-bare``); the table gives the median over rounds. The server
counts full and young garbage collections (``gc.callbacks``); the CPU time the server and the
OTLP receiver used while loaded (``/proc``) is divided by the requests served then; the records
each set-up wrote (lines in its file, records at the OTLP receiver) are counted against the
requests the endpoint served.

wrk is Debian's ``wrk`` (``apt-get install wrk``); without it the HTTP set-ups are reported as
not run. Results go to ``--out`` (default ``bench/results/``, not kept in git): ``service.json``
and ``service.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.otlp import Receiver  # noqa: E402
from bench.service_app import SETUPS  # noqa: E402

__all__ = [
    "Server",
    "Unavailable",
    "free_port",
    "load",
    "main",
    "parse_wrk",
    "receiver_for",
    "serving",
    "wait_listening",
    "ws_client",
]

#: What each set-up's row is called in the table.
LABELS = {
    "bare": "bare FastAPI",
    "passthrough": "the same behind a middleware that records nothing (the floor)",
    "aiotelemetry": "aiotelemetry, documented set-up (file sink)",
    "aiotelemetry-nomw": "the same without the middleware (the endpoint's log only)",
    "aiotelemetry-otlp": "the same, with the OTLP sink",
    "structlog": "structlog + orjson + access-log middleware with a request id",
    "otel-sdk": "OpenTelemetry instrumentation + SDK (BatchSpanProcessor, OTLP)",
    "otel-providers": "FastAPI's OpenTelemetry instrumentation through aiotelemetry's providers",
    "native-sdk": "FastAPI's native telemetry on the OpenTelemetry SDK (BatchSpanProcessor, OTLP): "
    "spans",
    "native-sdk-metrics": "FastAPI's native telemetry on the OpenTelemetry SDK, with its meter "
    "provider: spans and 2 HTTP metrics",
    "native-ours": "FastAPI's native telemetry on aiotelemetry's providers (OTLP sink): spans "
    "and 2 HTTP metrics",
    "native-ours-traces": "FastAPI's native telemetry on aiotelemetry's providers (OTLP sink), "
    "FastAPI's metrics off: spans",
    "ws-bare": "websocket echo, bare",
    "ws-aiotelemetry": "websocket echo, documented set-up, a log per message",
}
#: Records each set-up writes per request (HTTP) or per message (websocket), when fixed:
#: the request span and the endpoint's log; structlog's access line and log; the SDK's
#: server span and its two ``http send`` spans; FastAPI's native server span and its three
#: operation spans (dependencies, endpoint, serialization).
PER_UNIT = {
    "aiotelemetry": 2,
    "aiotelemetry-nomw": 1,
    "aiotelemetry-otlp": 2,
    "structlog": 2,
    "otel-sdk": 3,
    "native-sdk": 4,
    "native-sdk-metrics": 4,
    "native-ours": 4,
    "native-ours-traces": 4,
}
#: aiotelemetry's set-ups that do what a set-up on the OpenTelemetry SDK does, and that one:
#: their throughput and p99 are also divided by the SDK set-up's of the same round.
AGAINST = {
    "otel-providers": "otel-sdk",
    "native-ours-traces": "native-sdk",
    "native-ours": "native-sdk-metrics",
}
#: The websocket set-up with aiotelemetry: a log per message, a span per connection.
WS_CLIENTS = 8
OTLP_SETUPS = (
    "aiotelemetry-otlp",
    "otel-sdk",
    "native-sdk",
    "native-sdk-metrics",
    "native-ours",
    "native-ours-traces",
)
WARMUP_S = 1.0
START_TIMEOUT_S = 30.0


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests/s, p50 and p99 (ms) and errors from ``wrk --latency`` output."""
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m is None:
            raise ValueError(f"no {pct}% line in wrk's output: {text!r}")
        return float(m.group(1)) * units[m.group(2)]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if rate is None or total is None:
        raise ValueError(f"no Requests/sec in wrk's output: {text!r}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: (.*)", text)
    return {
        "rate": float(rate.group(1)),
        "done": int(total.group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sock.group(1).strip() if sock else "",
    }


# -- the websocket client ------------------------------------------------------------------------


async def _ws_connection(port: int, until: float, lat: list[float]) -> int:
    """One client: handshake, then a text message and its echo after another until ``until``.

    Framing by hand (RFC 6455: masked client frames, unmasked server frames, payloads under
    126 bytes) so that the client costs far less than the server it measures."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"handshake refused: {head[:80]!r}")
    payload = b'{"op":"echo","n":1}'
    mask = b"\x00\x00\x00\x00"  # a zero mask leaves the payload as it is
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + payload
    n = 0
    clock = time.perf_counter
    while (t0 := clock()) < until:
        writer.write(frame)
        first = await reader.readexactly(2)
        await reader.readexactly(first[1] & 0x7F)
        lat.append(clock() - t0)
        n += 1
    writer.write(bytes([0x88, 0x82]) + mask + (1000).to_bytes(2, "big"))
    with_close = await reader.read(4)
    del with_close
    writer.close()
    return n


async def _ws_run(port: int, seconds: float, clients: int) -> dict[str, Any]:
    lat: list[float] = []
    t0 = time.perf_counter()
    counts = await asyncio.gather(
        *(_ws_connection(port, t0 + seconds, lat) for _ in range(clients))
    )
    elapsed = time.perf_counter() - t0
    lat.sort()
    n = len(lat)
    return {
        "rate": sum(counts) / elapsed,
        "done": sum(counts),
        "p50_ms": lat[n // 2] * 1000 if n else 0.0,
        "p99_ms": lat[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
    }


def ws_client(port: int, seconds: float, clients: int = WS_CLIENTS) -> dict[str, Any]:
    """Echo messages on ``clients`` connections for ``seconds``: messages/s, p50, p99."""
    return asyncio.run(_ws_run(port, seconds, clients))


# -- one set-up, one round -----------------------------------------------------------------------


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(
    port: int, proc: subprocess.Popen[str], timeout: float = START_TIMEOUT_S
) -> None:
    """Wait until ``proc`` listens on ``port``; ``RuntimeError`` if it exits or takes longer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout:.0f} s")


def load(setup: str, port: int, seconds: float, connections: int) -> dict[str, Any]:
    """Load the server of ``setup`` for ``seconds``: wrk, or the websocket echo client."""
    if setup.startswith("ws-"):
        cmd = [sys.executable, str(HERE / "service.py"), "--ws-client", str(port), str(seconds)]
        ws = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        res: dict[str, Any] = json.loads(ws.stdout)
        return res
    url = f"http://127.0.0.1:{port}/items/1"
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_wrk(out.stdout)


def _records(setup: str, folder: Path) -> int:
    total = 0
    for f in folder.glob("*.jsonl"):
        with f.open("rb") as fh:
            total += sum(1 for _ in fh)
    return total


class Unavailable(Exception):
    """The set-up cannot be built here (what it needs is not installed); the reason."""


@dataclasses.dataclass
class Server:
    """A set-up's app served in a process of its own (see `serving`)."""

    proc: subprocess.Popen[str]
    port: int
    #: What the server wrote on its standard error, once it has stopped.
    stderr: str = ""


@contextlib.contextmanager
def receiver_for(setup: str) -> Iterator[Receiver | None]:
    """The loopback OTLP receiver, in a process of its own, for a set-up that exports over
    OTLP; ``None`` for the others."""
    if setup not in OTLP_SETUPS:
        yield None
        return
    with Receiver() as receiver:
        yield receiver


@contextlib.contextmanager
def serving(
    setup: str,
    out: Path,
    receiver: Receiver | None,
    *,
    prefix: Sequence[str] = (),
    start_timeout: float = START_TIMEOUT_S,
    stop_timeout: float = 120.0,
) -> Iterator[Server]:
    """Serve ``setup`` (:mod:`bench.service_app`, writing into ``out``, exporting to
    ``receiver``) from a command run after ``prefix`` (a profiler's), listening, until the
    block ends; then stop it (SIGTERM) and keep its standard error. `Unavailable` when the
    set-up cannot be built here."""
    port = free_port()
    cmd = [*prefix, sys.executable, "-m", "bench.service_app", setup, str(port), str(out)]
    if receiver is not None:
        cmd.append(receiver.endpoint)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    server = Server(proc, port)
    try:
        try:
            wait_listening(port, proc, start_timeout)
        except RuntimeError:
            written = out / "server.json"
            na = json.loads(written.read_text()).get("na") if written.exists() else None
            if na:
                raise Unavailable(na) from None
            raise
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        server.stderr = proc.communicate(timeout=stop_timeout)[1]


def run_one(
    setup: str, seconds: float, connections: int, *, profile: Path | None = None
) -> dict[str, Any]:
    """Serve ``setup``, warm up, load it, stop it; the figures and the accounting. With
    ``profile``, py-spy samples the server while it is loaded and writes its raw stacks there."""
    if not setup.startswith("ws-") and shutil.which("wrk") is None:
        return {"na": "wrk is not installed (apt-get install wrk)"}
    with (
        tempfile.TemporaryDirectory(prefix="bench-service-") as tmp,
        receiver_for(setup) as receiver,
    ):
        out = Path(tmp)
        try:
            with serving(setup, out, receiver) as server:
                proc, port = server.proc, server.port
                load(setup, port, WARMUP_S, connections)
                spy = None if profile is None else _py_spy(proc.pid, seconds, profile)
                pids = {"server": proc.pid}
                if receiver is not None:
                    pids["receiver"] = receiver.proc.pid
                cpu0 = {who: _cpu_s(pid) for who, pid in pids.items()}
                res = load(setup, port, seconds, connections)
                # CPU per request (or message) of the server and of the receiver while loaded.
                units = max(res.get("done", 0), 1)
                for who, pid in pids.items():
                    res[f"{who}_cpu_us"] = (_cpu_s(pid) - cpu0[who]) * 1e6 / units
                if spy is not None:
                    spy.wait(timeout=60)
        except Unavailable as exc:
            return {"na": str(exc)}
        written = json.loads((out / "server.json").read_text())
        records = receiver.records() if receiver is not None else _records(setup, out)
    res.update(written)
    res["records"] = records
    unit = res["messages"] if setup.startswith("ws-") else res["requests"]
    if setup == "ws-aiotelemetry":
        # A log per message and a span per connection (the warm-up's and the measured ones).
        res["expected"] = unit + 2 * WS_CLIENTS
    elif setup in PER_UNIT:
        res["expected"] = PER_UNIT[setup] * unit
    if "expected" in res:
        res["lost"] = res["expected"] - records
    served = res["requests"] + res["messages"]
    res["gc_full_per_10k"] = res["gc_full"] * 10_000 / served if served else 0.0
    res["gc_young_per_10k"] = res.get("gc_young", 0) * 10_000 / served if served else 0.0
    if server.stderr.strip() and server.proc.returncode:
        res["stderr"] = server.stderr.strip().splitlines()[-5:]
    return res


def _cpu_s(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has used so far, in seconds (Linux);
    0 where ``/proc`` does not tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # utime and stime are the 14th and 15th fields, the 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(spy), "record", "-p", str(pid), "-d", str(max(1, round(seconds - 0.5)))]
    cmd += ["-r", "200", "--nonblocking", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profiled_run(setup: str, seconds: float, out: Path) -> dict[str, Any]:
    """One run of ``setup`` with py-spy sampling the server; raw stacks into ``out``."""
    return run_one(setup, seconds, 32, profile=out)


# -- rounds and the table ------------------------------------------------------------------------


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _per_round(
    rows: list[dict[str, Any]], base: list[dict[str, Any]]
) -> tuple[list[float], list[float]]:
    """Throughput and p99 of each round of ``rows`` divided by ``base``'s of the same round."""
    ratios, p99s = [], []
    for r in rows:
        b = next((x for x in base if x.get("round") == r["round"]), None)
        if b is not None and "rate" in b:
            ratios.append(r["rate"] / b["rate"])
            p99s.append(r["p99_ms"] / b["p99_ms"])
    return ratios, p99s


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per set-up: medians over rounds of the figures and of the ratios to bare's same round."""
    out: dict[str, dict[str, Any]] = {}
    for setup, rows in runs.items():
        ok = [r for r in rows if "rate" in r]
        if not ok:
            out[setup] = {"na": next((r.get("na") or r.get("error") for r in rows), "no run")}
            continue
        base = "ws-bare" if setup.startswith("ws-") else "bare"
        ratios, p99s = _per_round(ok, runs.get(base, []))
        out[setup] = {
            "rate": _median([r["rate"] for r in ok]),
            "x_bare": _median(ratios),
            "p50_ms": _median([r["p50_ms"] for r in ok]),
            "p99_ms": _median([r["p99_ms"] for r in ok]),
            "p99_x_bare": _median(p99s),
            "gc_full_per_10k": _median([r["gc_full_per_10k"] for r in ok]),
            "gc_young_per_10k": _median([r.get("gc_young_per_10k", 0.0) for r in ok]),
            "gc_longest_ms": max(r["gc_longest_ms"] for r in ok),
            "served": sum(r["requests"] + r["messages"] for r in ok),
            "records": sum(r["records"] for r in ok),
            "lost": sum(r["lost"] for r in ok) if all("lost" in r for r in ok) else None,
            "server_cpu_us": _median([r.get("server_cpu_us", 0.0) for r in ok]),
            "receiver_cpu_us": _median([r.get("receiver_cpu_us", 0.0) for r in ok]),
        }
        peer = AGAINST.get(setup)
        ratios, p99s = _per_round(ok, runs.get(peer, [])) if peer else ([], [])
        if ratios:
            out[setup]["against"] = {
                "setup": peer,
                "x_rate": ratios,
                "x_p99": p99s,
                "x_rate_median": _median(ratios),
                "x_p99_median": _median(p99s),
            }
    return out


def against_table(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The Markdown table of aiotelemetry's set-ups against the SDK's doing the same work
    (`AGAINST`): throughput and p99 ratios per round and their medians; empty when no such
    pair ran."""
    lines = [
        "| set-up | against | x throughput (median) | per round | p99 x (median) | per round |",
        "|---|---|---|---|---|---|",
    ]
    for setup, s in summary.items():
        vs = s.get("against")
        if not vs:
            continue
        lines.append(
            f"| {LABELS[setup]} | {LABELS[vs['setup']]} | {vs['x_rate_median']:.2f} "
            f"| {' / '.join(f'{x:.2f}' for x in vs['x_rate'])} | {vs['x_p99_median']:.2f} "
            f"| {' / '.join(f'{x:.2f}' for x in vs['x_p99'])} |"
        )
    return lines if len(lines) > 2 else []


def table(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The Markdown table of :func:`summarise`."""
    lines = [
        "| set-up | req/s (msgs/s) | x bare | p50 | p99 | p99 x bare "
        "| full GCs / 10k | longest GC | young GCs / 10k | served | records | lost "
        "| CPU / request: server | receiver |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setup, s in summary.items():
        if "na" in s:
            lines.append(f"| {LABELS[setup]} | {s['na']} |" + "  |" * 12)
            continue
        lost = "n/a" if s["lost"] is None else f"{s['lost']:,}"
        lines.append(
            f"| {LABELS[setup]} | {s['rate']:,.0f} | {s['x_bare']:.2f} | {s['p50_ms']:.2f} ms "
            f"| {s['p99_ms']:.2f} ms | {s['p99_x_bare']:.2f} | {s['gc_full_per_10k']:.2f} "
            f"| {s['gc_longest_ms']:.1f} ms | {s['gc_young_per_10k']:.0f} | {s['served']:,} "
            f"| {s['records']:,} | {lost} | {s['server_cpu_us']:,.0f} µs "
            f"| {s['receiver_cpu_us']:,.0f} µs |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the rounds, print and write the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="load per set-up and round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument(
        "--setups", default=",".join(SETUPS), help="comma-separated: " + ",".join(SETUPS)
    )
    ap.add_argument("--connections", type=int, default=32, help="wrk's connections (default 32)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="where service.* go")
    ap.add_argument("--ws-client", nargs=2, metavar=("PORT", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.ws_client:
        print(json.dumps(ws_client(int(args.ws_client[0]), float(args.ws_client[1]))))
        return 0
    setups = [s for s in args.setups.split(",") if s]
    for s in setups:
        if s not in SETUPS:
            ap.error(f"unknown set-up {s!r}; known: {', '.join(SETUPS)}")
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): the HTTP set-ups are skipped")
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in setups}
    for rnd in range(args.rounds):
        for setup in setups if rnd % 2 == 0 else setups[::-1]:
            try:
                res = run_one(setup, args.seconds, args.connections)
            except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as exc:
                res = {"error": f"{type(exc).__name__}: {exc}"}
            res["round"] = rnd
            runs[setup].append(res)
            print(f"#{rnd} {setup:<18} {_line(res)}", flush=True)
    summary = summarise(runs)
    lines = table(summary)
    against = against_table(summary)
    if against:
        lines += ["", *against]
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python bench/service.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = {"command": command.strip(), "runs": runs, "summary": summary}
    (args.out / "service.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "service.md").write_text(f"`{command.strip()}`\n\n" + "\n".join(lines) + "\n")
    return 0


def _line(res: dict[str, Any]) -> str:
    if "rate" not in res:
        return str(res.get("na") or res.get("error"))
    lost = res.get("lost", "n/a")
    # What the hub itself counted as dropped, by reason (aiotelemetry's set-ups): the
    # receiver's count above is the check, this says why.
    dropped = (res.get("reported") or {}).get("dropped") or {}
    why = f" ({', '.join(f'{k} {v:,}' for k, v in sorted(dropped.items()))})" if dropped else ""
    return (
        f"{res['rate']:,.0f}/s p50 {res['p50_ms']:.2f}ms p99 {res['p99_ms']:.2f}ms "
        f"full GCs {res['gc_full']} (longest {res['gc_longest_ms']:.1f}ms) "
        f"records {res['records']:,} lost {lost}{why} "
        f"CPU/request server {res.get('server_cpu_us', 0):,.0f}us "
        f"receiver {res.get('receiver_cpu_us', 0):,.0f}us"
    )


if __name__ == "__main__":
    raise SystemExit(main())
