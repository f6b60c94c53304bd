"""SyslogSink against a real rsyslogd (UDP, TCP, TLS, unix sockets), plus its formatter.

The end-to-end tests send through the hub and compare what rsyslog parsed, field by field, with
what was sent; a :class:`MemorySink` next to the syslog handler keeps the signals themselves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import ConfigError, Signal, Stats, Telemetry
from telemetry.sinks import MemorySink, SyslogSink
from telemetry.sinks._syslog_format import (
    TRUNCATION_MARK,
    Rfc3164Formatter,
    Rfc5424Formatter,
    escape_sd_value,
    truncate_utf8,
)
from telemetry.sinks.syslog import UDP_SLICE
from telemetry.testing import make_signal
from tests.conftest import assert_accounted, require
from tests.sinks import udp_delivery
from tests.sinks.rsyslog import (  # noqa: F401
    WAIT_S,
    Rsyslog,
    have_tls,
    rsyslog_fixture,
    rsyslog_fresh_fixture,
)

ROOT = Path(__file__).resolve().parents[2]
N = 10_000
LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
# RFC 5424 severities: debug 7, informational 6, warning 4, error 3, critical 2.
SEVERITY = {"trace": 7, "debug": 7, "info": 6, "warn": 4, "error": 3, "fatal": 2}
LOCAL3 = 19
# What the sink must write for control characters (its documented escapes).
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def expected_text(s: str) -> str:
    """``s`` with control characters as the visible escapes the sink promises."""
    out = []
    for c in s:
        o = ord(c)
        if c in _NAMED:
            out.append(_NAMED[c])
        elif o < 0x20 or 0x7F <= o < 0xA0:
            out.append(f"\\x{o:02x}")
        elif o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        else:
            out.append(c)
    return "".join(out)


def expected_name(key: str) -> str:
    """A PARAM-NAME as RFC 5424 allows: printable ASCII but '=', ' ', ']', '"'; 32 at most."""
    return "".join(c if 33 <= ord(c) <= 126 and c not in '= ]"' else "_" for c in key)[:32]


def parse_sd(sd: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Parse STRUCTURED-DATA strictly (RFC 5424 section 6.3), undoing the value escapes."""
    if sd == "-":
        return []
    elements: list[tuple[str, list[tuple[str, str]]]] = []
    i = 0
    name_re = re.compile(r"[!#-<>-\\^-~]{1,32}")  # PRINTUSASCII except '=', ']', '"'
    while i < len(sd):
        assert sd[i] == "[", f"SD element must start with '[' at {i}: {sd!r}"
        m = name_re.match(sd, i + 1)
        assert m, f"bad SD-ID at {i}: {sd!r}"
        sd_id, i = m.group(), m.end()
        params: list[tuple[str, str]] = []
        while sd[i] == " ":
            m = name_re.match(sd, i + 1)
            assert m, f"bad PARAM-NAME at {i}: {sd!r}"
            assert sd[m.end() : m.end() + 2] == '="', f"bad SD-PARAM at {i}: {sd!r}"
            name, i = m.group(), m.end() + 2
            value = []
            while sd[i] != '"':
                if sd[i] == "\\" and sd[i + 1] in '"\\]':
                    value.append(sd[i + 1])
                    i += 2
                else:
                    assert sd[i] != "]", f"unescaped ']' in a value: {sd!r}"
                    value.append(sd[i])
                    i += 1
            params.append((name, "".join(value)))
            i += 1
        assert sd[i] == "]", f"SD element must end with ']' at {i}: {sd!r}"
        elements.append((sd_id, params))
        i += 1
    return elements


def app_name() -> str:
    """An app-name of the test's own, to find its messages in rsyslog's output."""
    return f"t{uuid.uuid4().hex[:12]}"


def sink_for(rs: Rsyslog, transport: str, app: str, **options: Any) -> SyslogSink:
    """A SyslogSink pointed at ``rs``'s input ``transport``."""
    options.setdefault("facility", "local3")
    if transport == "udp":
        return SyslogSink("127.0.0.1", transport="udp", port=rs.udp_port, app_name=app, **options)
    if transport == "tcp":
        return SyslogSink("127.0.0.1", transport="tcp", port=rs.tcp_port, app_name=app, **options)
    if transport == "tls":
        require(bool(rs.tls_port), "rsyslog's TLS driver (rsyslog-openssl) or openssl is missing")
        return SyslogSink(
            "127.0.0.1",
            transport="tcp",
            port=rs.tls_port,
            ca_file=rs.certs["ca.pem"],
            app_name=app,
            **options,
        )
    if transport == "unix":
        return SyslogSink(rs.unix_path, app_name=app, **options)
    assert transport == "unix5424"
    return SyslogSink(rs.unix5424_path, format="rfc5424", app_name=app, **options)


async def send_all(
    sink: SyslogSink, emit: Callable[[Telemetry, int], Any], n: int, **handler: Any
) -> tuple[Stats, list[Signal]]:
    """Emit ``n`` signals through a hub with the syslog handler (blocking mode) and a memory
    handler; return the final stats and the signals as emitted."""
    memory = MemorySink()
    handlers: dict[str, Any] = {
        "syslog": {"sink": sink, "mode": "blocking", **handler},
        "memory": {"sink": memory, "mode": "blocking"},
    }
    async with Telemetry(handlers=handlers, min_level="trace") as hub:
        for i in range(n):
            await emit(hub, i)
    stats = await hub.aclose()
    assert stats.handlers["memory"].written == n
    return stats, memory.signals


async def arrived(rs: Rsyslog, name: str, app: str, count: int) -> list[dict[str, Any]]:
    """What rsyslog wrote for ``app`` on input ``name`` once ``count`` messages are in."""
    return await anyio.to_thread.run_sync(rs.wait_records, name, app, count)


def rfc3339(inst: int) -> str:
    """The timestamp rsyslog shows for an RFC 5424 message sent at ``inst``."""
    sec, ns = divmod(inst, 1_000_000_000)
    t = dt.datetime.fromtimestamp(sec, dt.UTC).replace(microsecond=ns // 1000)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_pri(rec: dict[str, Any], sig: Signal, facility: int = LOCAL3) -> None:
    sev = SEVERITY[sig.level]
    assert (rec["pri"], rec["facility"], rec["severity"]) == (
        str(facility * 8 + sev),
        str(facility),
        str(sev),
    )


# -- end to end, against rsyslog ---------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls", "unix5424"])
async def test_ten_thousand_rfc5424_signals_arrive(rsyslog: Rsyslog, transport: str) -> None:
    """10,000 signals arrive complete and parsed field by field; over TCP and TLS, in order."""
    app = app_name()
    sink = sink_for(rsyslog, transport, app)

    async def emit(hub: Telemetry, i: int) -> None:
        await hub.signal(f"message {i}", level=LEVELS[i % 6], id=f"ev.{i % 7}", data={"seq": i})

    stats, signals = await send_all(sink, emit, N)
    assert_accounted(stats)
    assert stats.handlers["syslog"].written == N
    records = await arrived(rsyslog, transport, app, N)
    seqs = []
    for rec in records:
        [(sd_id, params)] = parse_sd(rec["sd"])
        assert sd_id == "telemetry@32473"
        assert params[0][0] == "seq"
        seq = int(params[0][1])
        sig = signals[seq]
        assert sig.data["seq"] == seq
        check_pri(rec, sig)
        assert rec["version"] == "1"
        assert rec["timestamp"] == rfc3339(sig.inst)
        assert rec["hostname"] == sig.host
        assert (rec["app"], rec["procid"], rec["msgid"]) == (app, str(os.getpid()), sig.id)
        assert rec["msg"] == sig.msg
        seqs.append(seq)
    if transport in ("tcp", "tls"):
        assert seqs == list(range(N))
    else:
        assert sorted(seqs) == list(range(N))


async def test_ten_thousand_glibc_style_signals_arrive_on_the_local_socket(
    rsyslog: Rsyslog,
) -> None:
    """10,000 RFC 3164 datagrams on a unix socket parse as syslog(3) messages do."""
    app = app_name()
    sink = sink_for(rsyslog, "unix", app)
    assert sink.format == "rfc3164"

    async def emit(hub: Telemetry, i: int) -> None:
        await hub.signal(f"message {i}", level=LEVELS[i % 6], data={"seq": i, "who": "a b"})

    stats, signals = await send_all(sink, emit, N)
    assert_accounted(stats)
    records = await arrived(rsyslog, "unix", app, N)
    assert len(records) == N
    seen = set()
    for rec in records:
        # rsyslog keeps the space after "app[pid]:" as the start of msg.
        text = rec["msg"].removeprefix(" ")
        m = re.fullmatch(r'message (\d+) seq=(\d+) who="a b"', text)
        assert m, text
        assert m[1] == m[2]
        sig = signals[int(m[1])]
        check_pri(rec, sig)
        assert (rec["app"], rec["procid"], rec["msgid"], rec["sd"]) == (
            app,
            str(os.getpid()),
            "-",
            "-",
        )
        seen.add(sig.data["seq"])
    assert seen == set(range(N))


@pytest.mark.parametrize("transport", ["tcp", "udp", "unix5424"])
async def test_structured_data_survives_quotes_backslashes_brackets_and_unicode(
    rsyslog: Rsyslog, transport: str
) -> None:
    """Values with ", \\, ], control characters and non-ASCII text come back exactly once
    unescaped, and keys that are not valid PARAM-NAMEs arrive sanitised."""
    app = app_name()
    long_key = "k" * 40
    data = {
        "quote": 'say "hi"',
        "back": "C:\\path\\",
        "bracket": "a]b[c]",
        "escaped": '\\"\\]',
        "uni": "naïve ☃ 𝄞 日本語",
        "ctrl": "line1\nline2\ttab\x1bESC\x7f\u2028\x85",
        "sp ace": 1,
        "eq=key": True,
        'q"uote]': None,
        "ключ": 2.5,
        long_key: [1, "two"],
        "nested": {"a": [1, 2]},
    }
    ctx = {"request": 'r"1]'}
    sink = sink_for(rsyslog, transport, app)

    async def emit(hub: Telemetry, i: int) -> None:
        await hub.signal("values", id="check", data=data, ctx=ctx)

    stats, _ = await send_all(sink, emit, 1)
    assert_accounted(stats)
    [rec] = await arrived(rsyslog, transport, app, 1)
    [(sd_id, params)] = parse_sd(rec["sd"])
    assert sd_id == "telemetry@32473"
    rendered = {
        "request": 'r"1]',
        "quote": 'say "hi"',
        "back": "C:\\path\\",
        "bracket": "a]b[c]",
        "escaped": '\\"\\]',
        "uni": "naïve ☃ 𝄞 日本語",
        "ctrl": "line1\nline2\ttab\x1bESC\x7f\u2028\x85",
        "sp ace": "1",
        "eq=key": "true",
        'q"uote]': "null",
        "ключ": "2.5",
        long_key: '[1,"two"]',
        "nested": '{"a":[1,2]}',
    }
    assert params == [(expected_name(k), expected_text(v)) for k, v in rendered.items()]
    assert all(len(name) <= 32 for name, _ in params)


@pytest.mark.parametrize("transport", ["tcp", "udp", "unix"])
async def test_newlines_and_control_characters_cannot_forge_lines(
    rsyslog: Rsyslog, transport: str
) -> None:
    """A message full of line breaks and a fake syslog header arrives as one message, with
    the control characters written as visible escapes."""
    app = app_name()
    evil = "first\nsecond\r\n<13>1 - - forged - - - x\x00\x1b[31mred\u2028end\x85"
    sink = sink_for(rsyslog, transport, app)

    async def emit(hub: Telemetry, i: int) -> None:
        await hub.log("warn", evil, note=evil)

    stats, _ = await send_all(sink, emit, 3)
    assert_accounted(stats)
    records = await arrived(rsyslog, transport, app, 3)
    assert len(records) == 3
    assert not [r for r in rsyslog.records(transport) if r["app"] == "forged"]
    for rec in records:
        assert "#0" not in rec["msg"]  # rsyslog's own escape for a control character it saw
        if transport == "unix":
            note = expected_text(evil).replace("\\", "\\\\").replace('"', '\\"')
            assert rec["msg"] == f' {expected_text(evil)} note="{note}"'
        else:
            assert rec["msg"] == expected_text(evil)
            assert parse_sd(rec["sd"]) == [("telemetry@32473", [("note", expected_text(evil))])]


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_a_100_kb_message_arrives_whole(rsyslog: Rsyslog, transport: str) -> None:
    """With the bound lifted for a receiver that takes more, a 100 KB message (many TLS
    records) arrives whole, UTF-8 intact, BOM first."""
    app = app_name()
    unit = "abc déf 日本 𝄞 "
    text = unit * (100_000 // len(unit.encode()) + 1)
    assert 100_000 <= len(text.encode()) < 100_100
    sink = sink_for(rsyslog, transport, app, max_message_size=None)

    async def emit(hub: Telemetry, i: int) -> None:
        await hub.log("info", text, i=i)

    stats, _ = await send_all(sink, emit, 2)
    assert_accounted(stats)
    assert stats.handlers["syslog"].sink_counters.get("truncated", 0) == 0
    records = await arrived(rsyslog, transport, app, 2)
    assert [r["msg"] for r in records] == ["\ufeff" + text] * 2
    assert [parse_sd(r["sd"])[0][1] for r in records] == [[("i", "0")], [("i", "1")]]


async def test_long_udp_messages_are_truncated_and_counted(rsyslog: Rsyslog) -> None:
    """Over UDP a message longer than 2048 bytes is cut at a UTF-8 boundary, marked, arrives,
    and is counted as truncated, not dropped."""
    app = app_name()
    sink = sink_for(rsyslog, "udp", app)
    texts = [("é" * i) + ("x日" * 2000) for i in range(7)]  # cuts land at every offset

    async def emit(hub: Telemetry, i: int) -> None:
        await hub.log("info", texts[i], seq=i)

    stats, _ = await send_all(sink, emit, len(texts))
    assert_accounted(stats)
    h = stats.handlers["syslog"]
    assert (h.written, h.dropped, h.sink_counters["truncated"]) == (len(texts), {}, len(texts))
    records = await arrived(rsyslog, "udp", app, len(texts))
    assert len(records) == len(texts)
    for rec in records:
        [(_, [(_, seq)])] = parse_sd(rec["sd"])
        msg = rec["msg"]
        assert msg.startswith("\ufeff")
        assert not re.search("[\udc80-\udcff]", msg)  # no undecodable bytes: valid UTF-8
        assert msg.endswith(TRUNCATION_MARK)
        assert texts[int(seq)].startswith(msg[1 : -len(TRUNCATION_MARK)])
        assert len(msg.encode()) < 2048 < len(texts[int(seq)].encode())


async def test_tcp_receiver_restart_loses_nothing_silently(rsyslog_fresh: Rsyslog) -> None:
    """The receiver stops and comes back mid-run: signals sent while it is away are retried
    and then counted as unreachable, nothing is sent twice, and everything after the restart
    arrives."""
    rs = rsyslog_fresh
    app = app_name()
    sink = sink_for(rs, "tcp", app, timeout=0.5, max_backoff=0.2)
    memory = MemorySink()
    handlers: dict[str, Any] = {
        "syslog": {"sink": sink, "mode": "blocking"},
        "memory": {"sink": memory, "mode": "blocking"},
    }
    phases = (2000, 500, 2000)
    async with Telemetry(handlers=handlers) as hub:
        seq = 0

        async def burst(n: int) -> range:
            nonlocal seq
            sent = range(seq, seq + n)
            for i in sent:
                await hub.log("info", f"m{i}", seq=i)
            seq += n
            await hub.flush()
            return sent

        before = await burst(phases[0])
        await arrived(rs, "tcp", app, len(before))
        await anyio.to_thread.run_sync(rs.stop)
        during = await burst(phases[1])
        await anyio.to_thread.run_sync(rs.start)
        # A write is what makes the sink connect again: one signal at a time until it has.
        with anyio.fail_after(WAIT_S):  # a guard against a hang, not a timing
            while hub.stats().handlers["syslog"].sink_counters["connects"] < 2:
                during = range(during.start, (await burst(1)).stop)
        after = await burst(phases[2])
    stats = await hub.aclose()
    assert_accounted(stats)

    records = await arrived(rs, "tcp", app, phases[0] + phases[2])
    seqs = [int(parse_sd(r["sd"])[0][1][0][1]) for r in records]
    assert len(seqs) == len(set(seqs)), "a signal arrived twice"
    assert seqs == sorted(seqs)
    got = set(seqs)
    assert set(before) <= got
    assert set(after) <= got
    missing = set(range(seq)) - got
    assert missing <= set(during)
    h = stats.handlers["syslog"]
    assert h.dropped_total == len(missing)
    assert set(h.dropped) <= {"unreachable", "connection_lost"}
    assert h.sink_counters["connects"] == 2
    assert h.sink_counters["connect_errors"] >= 1


async def test_tcp_receiver_killed_mid_stream(rsyslog_fresh: Rsyslog) -> None:
    """The receiver stops while signals stream: nothing arrives twice, every signal it read
    before the stop and every one sent once the sink reconnected arrives, and any uncounted
    loss comes with a visible departure of the receiver (reset or close) and is bounded by
    what was sent between the last confirmed arrival and the sink noticing the stop: what a
    stopping receiver leaves unread (plain TCP syslog has no acknowledgements)."""
    rs = rsyslog_fresh
    app = app_name()
    sink = sink_for(rs, "tcp", app, timeout=0.5, max_backoff=0.1)
    handlers: dict[str, Any] = {"syslog": {"sink": sink, "mode": "blocking", "batch_size": 64}}
    seq = 0
    stop, running = anyio.Event(), anyio.Event()
    running.set()

    async with Telemetry(handlers=handlers) as hub:

        def counter(name: str) -> int:
            return hub.stats().handlers["syslog"].sink_counters.get(name, 0)

        async def until(done: Callable[[], bool]) -> None:
            with anyio.fail_after(WAIT_S):  # a guard against a hang, not a timing
                while not done():  # noqa: ASYNC110 - the conditions are the sink's counts
                    await anyio.sleep(0.005)

        async def produce() -> None:
            nonlocal seq
            while not stop.is_set():
                await running.wait()
                await hub.log("info", f"m{seq}", seq=seq)
                seq += 1
                if seq % 64 == 0:
                    await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            tg.start_soon(produce)
            await until(lambda: seq >= 1000)
            running = anyio.Event()  # the producer pauses at its next signal
            before = seq
            await hub.flush()
            await arrived(rs, "tcp", app, before)  # read by the receiver before it stops
            running.set()
            await until(lambda: seq >= before + 64)
            await anyio.to_thread.run_sync(rs.stop)  # while the signals stream
            stopped = seq
            # Streaming on while the receiver is away, until the sink has noticed it.
            await until(lambda: seq >= stopped + 500 and counter("connect_errors") >= 1)
            noticed = seq
            await anyio.to_thread.run_sync(rs.start)
            await until(lambda: counter("connects") >= 2)
            back = seq  # from here on, every signal goes out on the new connection
            await until(lambda: seq >= back + 1000)
            stop.set()
    stats = await hub.aclose()
    assert_accounted(stats)

    last = f'[telemetry@32473 seq="{seq - 1}"]'

    def wait() -> list[dict[str, Any]]:  # in order over TCP: the last one comes last
        return rs.wait_records("tcp", app, seq, until=lambda rs: any(r["sd"] == last for r in rs))

    records = await anyio.to_thread.run_sync(wait)
    seqs = [int(parse_sd(r["sd"])[0][1][0][1]) for r in records]
    h = stats.handlers["syslog"]
    missing = seq - len(seqs)
    departures = h.sink_counters.get("resets", 0) + h.sink_counters.get("disconnects", 0)
    print(
        f"\nkilled mid-stream: {seq} sent (before {before}, stopped {stopped}, noticed "
        f"{noticed}, back {back}), {len(seqs)} arrived, {missing} missing, "
        f"{h.dropped_total} counted as dropped {h.dropped}, counters {h.sink_counters}"
    )
    assert len(seqs) == len(set(seqs)), "a signal arrived twice"
    assert set(range(before)) <= set(seqs), "a signal read before the stop was lost"
    assert set(range(back, seq)) <= set(seqs), "a signal sent after the reconnection was lost"
    assert h.sink_counters["connects"] == 2
    # Signals go missing uncounted only when the receiver went away: with data unread (a
    # reset; the sink counts its last write as connection_lost, a lower bound), or after
    # reading data that it then discarded while stopping (a clean close: nothing on the
    # connection says so); and only what was on its way when it went.
    uncounted = missing - h.dropped_total
    assert uncounted <= 0 or departures >= 1, (uncounted, h.sink_counters)
    assert uncounted <= noticed - before, (uncounted, noticed - before)


async def test_a_frozen_receiver_does_not_block_the_loop(rsyslog_fresh: Rsyslog) -> None:
    """With the receiver frozen (SIGSTOP) its socket fills up: the sink waits for room without
    blocking the event loop, and once the receiver runs again everything arrives."""
    rs = rsyslog_fresh
    app = app_name()
    n = 4000
    sink = sink_for(rs, "unix", app, timeout=30)
    thawed_by_timer = threading.Event()

    def thaw() -> None:  # a safety net: if the loop were blocked, nothing else would thaw it
        thawed_by_timer.set()
        rs.resume()

    rs.pause()
    timer = threading.Timer(10.0, thaw)
    timer.start()
    try:
        handlers: dict[str, Any] = {"syslog": {"sink": sink, "mode": "blocking"}}
        async with Telemetry(handlers=handlers) as hub:

            async def produce() -> None:
                for i in range(n):
                    await hub.log("info", f"m{i}", seq=i)

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                h = hub.stats().handlers["syslog"]
                # The queue fills up behind the stuck sink.
                while h.queued < h.buffer_size and not thawed_by_timer.is_set():
                    await anyio.sleep(0.01)
                    h = hub.stats().handlers["syslog"]
                await anyio.sleep(0.2)
                assert not thawed_by_timer.is_set(), "the event loop was blocked"
                assert hub.stats().handlers["syslog"].written == h.written  # still stuck
                rs.resume()
        stats = await hub.aclose()
    finally:
        timer.cancel()
        rs.resume()
    assert_accounted(stats)
    assert stats.handlers["syslog"].written == n
    records = await arrived(rs, "unix", app, n)
    assert len(records) == n


async def test_tls_with_an_untrusted_certificate_is_counted_not_raised(
    rsyslog: Rsyslog,
) -> None:
    """A receiver whose certificate does not verify is unreachable: signals are counted as
    dropped and the app never sees the error."""
    require(bool(rsyslog.tls_port), "rsyslog's TLS driver (rsyslog-openssl) or openssl is missing")
    sink = SyslogSink(
        "127.0.0.1",
        transport="tcp",
        port=rsyslog.tls_port,
        ssl_context=ssl.create_default_context(),  # the system CAs do not know the test CA
        timeout=0.3,
    )

    async def emit(hub: Telemetry, i: int) -> None:
        await hub.log("info", "x")

    stats, _ = await send_all(sink, emit, 5)
    assert_accounted(stats)
    assert stats.handlers["syslog"].dropped == {"unreachable": 5}
    assert isinstance(sink._last_error, ssl.SSLCertVerificationError)


@pytest.mark.parametrize("transport", ["udp", "unix", "tcp"])
def test_write_sync_delivers_without_a_loop(rsyslog: Rsyslog, transport: str) -> None:
    """write_sync (the exit fallback) sends a batch on the calling thread, no loop needed."""
    app = app_name()
    sink = sink_for(rsyslog, transport, app)
    asyncio.run(sink.open())
    sink.write_sync([make_signal(f"sync {i}", data={"i": i}) for i in range(20)])
    sink.close_sync()
    assert sink.take_drops() == {}
    records = rsyslog.wait_records(transport, app, 20)
    assert sorted(r["msg"].strip() for r in records) == sorted(
        f"sync {i}" + (f" i={i}" if transport == "unix" else "") for i in range(20)
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_signals_queued_at_exit_are_sent_by_the_exit_fallback(
    rsyslog: Rsyslog, transport: str
) -> None:
    """A process that ends without closing its hub still delivers what was queued: the exit
    fallback writes it through write_sync."""
    app = app_name()
    port = rsyslog.udp_port if transport == "udp" else rsyslog.tcp_port
    script = f"""
import asyncio
from telemetry import Telemetry
from telemetry.sinks import SyslogSink

async def main():
    global hub
    sink = SyslogSink("127.0.0.1", transport={transport!r}, port={port}, app_name={app!r})
    hub = Telemetry(handlers={{"syslog": sink}})
    await hub.open()
    await hub.log("info", "hello")
    await hub.flush()

asyncio.run(main())  # returns without aclose(): the hub stays open, its workers are gone
for i in range(100):
    hub.log_nowait("info", f"bye {{i}}")  # queued, for the exit fallback to write
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode()
    records = rsyslog.wait_records(transport, app, 101)
    expected = ["hello"] + [f"bye {i}" for i in range(100)]
    assert sorted(r["msg"] for r in records) == sorted(expected)
    assert b"did not confirm" not in proc.stderr


# -- without a receiver -------------------------------------------------------------------------


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize("transport", ["tcp", "unix"])
async def test_unreachable_receiver_opens_and_counts(tmp_path: Any, transport: str) -> None:
    """No receiver at the address: the hub opens, emitting never fails, every signal is
    counted as unreachable after the sink's bounded retry."""
    if transport == "tcp":
        sink = SyslogSink("127.0.0.1", transport="tcp", port=_free_tcp_port(), timeout=0.2)
    else:
        sink = SyslogSink(str(tmp_path / "nobody.sock"), timeout=0.2)

    async def emit(hub: Telemetry, i: int) -> None:
        assert await hub.log("info", "hello", i=i)

    stats, _ = await send_all(sink, emit, 50)
    assert_accounted(stats)
    h = stats.handlers["syslog"]
    assert (h.written, h.dropped) == (0, {"unreachable": 50})
    assert h.sink_counters["connect_errors"] >= 1
    assert h.errors == 0  # nothing raised: the handler did not retry on top of the sink


async def test_unreadable_ca_file_fails_at_open(tmp_path: Any) -> None:
    """A CA file that cannot be read is a ConfigError naming ca_file when the sink opens."""
    sink = SyslogSink("127.0.0.1", transport="tcp", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ConfigError) as info:
        await sink.open()
    assert info.value.param == "ca_file"


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"transport": "tcpp"}, "transport"),
        ({"transport": "udp", "port": 0}, "port"),
        ({"transport": "udp", "port": 65536}, "port"),
        ({"transport": "tcp", "port": "514"}, "port"),
        ({"port": 514}, "port"),
        ({"facility": "local8"}, "facility"),
        ({"facility": 24}, "facility"),
        ({"transport": "udp", "tls": True}, "tls"),
        ({"ca_file": "/etc/ssl/ca.pem"}, "ca_file"),
        ({"transport": "udp", "ssl_context": ssl.create_default_context()}, "ssl_context"),
        ({"transport": "tcp", "ssl_context": "yes"}, "ssl_context"),
        (
            {"transport": "tcp", "ssl_context": ssl.create_default_context(), "ca_file": "x"},
            "ca_file",
        ),
        ({"transport": "tcp", "server_hostname": "h"}, "server_hostname"),
        ({"format": "rfc5425"}, "format"),
        ({"sd_id": "nopen"}, "sd_id"),
        ({"sd_id": "a b@32473"}, "sd_id"),
        ({"sd_id": "x" * 30 + "@32473"}, "sd_id"),
        ({"sd_id": "𝄞@32473"}, "sd_id"),
        ({"app_name": "my app"}, "app_name"),
        ({"app_name": "app[1]"}, "app_name"),
        ({"app_name": "a" * 49, "transport": "udp"}, "app_name"),
        ({"hostname": "h\n"}, "hostname"),
        ({"transport": "udp", "max_message_size": 100}, "max_message_size"),
        ({"transport": "udp", "max_message_size": 70000}, "max_message_size"),
        ({"timeout": 0}, "timeout"),
        ({"max_backoff": -1}, "max_backoff"),
        ({"address": ""}, "address"),
        ({"address": "/" + "x" * 200}, "address"),
        ({"address": "bad host", "transport": "udp"}, "address"),
    ],
)
def test_bad_configuration_fails_at_construction(options: dict[str, Any], param: str) -> None:
    """Every bad option is a ConfigError naming the parameter, raised by the constructor."""
    with pytest.raises(ConfigError) as info:
        SyslogSink(**options)
    assert info.value.param == param


# -- the formatter (property-based) -------------------------------------------------------------

_keys = st.text(min_size=1, max_size=40)
_values = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8", categories=("Cc", "Zl", "Zp", "Po"))),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
)
_texts = st.one_of(st.text(), st.text(alphabet=st.characters(categories=("Cc", "Zl", "Lo", "So"))))
_CONTROL = re.compile(b"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


def _signal(msg: str, data: dict[str, Any], level: str, sid: str | None) -> Signal:
    return make_signal(msg, level=level, id=sid, data=data)


_signals = st.builds(
    _signal,
    _texts,
    st.dictionaries(_keys, _values, max_size=6),
    st.sampled_from(LEVELS),
    st.one_of(st.none(), st.text(max_size=40)),
)


def _rfc5424(**options: Any) -> Rfc5424Formatter:
    return Rfc5424Formatter(facility=LOCAL3, app_name="app", **options)


def _split_5424(out: bytes) -> tuple[list[str], str, str]:
    """Header fields, structured data and MSG of an RFC 5424 message (strictly)."""
    text = out.decode("utf-8")
    fields = text.split(" ", 6)
    assert len(fields) == 7, text
    rest = fields[6]
    if rest.startswith("-"):
        sd, msg = "-", rest[2:]
    else:
        # Find the end of the SD element: a ']' not preceded by an escaping backslash.
        i, end = 0, -1
        while i < len(rest):
            if rest[i] == "\\":
                i += 2
                continue
            if rest[i] == "]":
                end = i
                break
            i += 1
        assert end > 0, text
        sd, msg = rest[: end + 1], rest[end + 2 :]
    return fields[:6], sd, msg


@given(_signals)
@settings(max_examples=300, deadline=None)
def test_rfc5424_output_parses_back_and_holds_no_control_character(sig: Signal) -> None:
    """Any signal becomes one strict RFC 5424 message without control bytes whose SD values
    unescape to the data as sent."""
    out, cut = _rfc5424().format(sig)
    assert not cut
    assert not _CONTROL.search(out)
    head, sd, msg = _split_5424(out)
    pri, _ts, host, app, procid, msgid = head
    assert pri == f"<{LOCAL3 * 8 + SEVERITY[sig.level]}>1"
    for field, limit in ((host, 255), (app, 48), (procid, 128), (msgid, 32)):
        assert 1 <= len(field) <= limit
        assert all(33 <= ord(c) <= 126 for c in field)
    elements = parse_sd(sd)
    if sig.data:
        [(_, params)] = elements
        fmt = _rfc5424()
        assert params == [
            (expected_name(str(k)), expected_text(fmt.value(v))) for k, v in sig.data.items()
        ]
    else:
        assert elements == []
    body = expected_text(sig.msg or "")
    assert msg == (("\ufeff" + body) if not body.isascii() else body)


@given(_signals, st.integers(min_value=100, max_value=600))
@settings(max_examples=300, deadline=None)
def test_rfc5424_truncation_keeps_utf8_and_structure(sig: Signal, limit: int) -> None:
    """A truncated message fits the limit, is valid UTF-8, keeps well-formed structured
    data, ends with the truncation mark, and before it is a prefix of the whole message
    whenever the header and SD fit."""
    fmt = _rfc5424()
    full, _ = fmt.format(sig)
    out, cut = fmt.format(sig, limit)
    assert cut == (len(full) > limit)
    assert len(out) <= limit
    out.decode("utf-8")
    if not cut:
        assert out == full
        return
    assert not _CONTROL.search(out)
    assert out.endswith(TRUNCATION_MARK.encode())
    head_and_sd, _ = fmt.format(msgspec.structs.replace(sig, msg=None))
    if len(head_and_sd) + len(TRUNCATION_MARK) + 1 < limit:
        assert (full + b" ").startswith(out[: -len(TRUNCATION_MARK)])
    fields = out.decode().split(" ", 6)
    if len(fields) == 7 and fields[6].startswith("["):
        _split_5424(out)  # the SD element is closed


@given(st.text(alphabet=st.characters(categories=("Cs", "Ll")), min_size=1))
def test_lone_surrogates_become_visible_escapes(text: str) -> None:
    """Text that is not valid Unicode (lone surrogates) still makes valid UTF-8."""
    out, _ = _rfc5424().format(make_signal(text, data={"v": text}))
    decoded = out.decode("utf-8")
    assert all(not 0xD800 <= ord(c) <= 0xDFFF for c in decoded)


@given(st.text(), st.integers(min_value=0, max_value=200))
def test_truncate_utf8_cuts_at_a_character_boundary(text: str, limit: int) -> None:
    """truncate_utf8 returns the longest whole-character prefix within the limit."""
    data = text.encode("utf-8")
    out = truncate_utf8(data, limit)
    assert data.startswith(out)
    assert len(out) <= limit
    prefix = out.decode("utf-8")
    assert text.startswith(prefix)
    if len(prefix) < len(text):
        assert len(text[: len(prefix) + 1].encode()) > limit


@given(st.text())
def test_sd_value_escaping_round_trips(text: str) -> None:
    """RFC 5424 unescaping of an escaped value gives the text back (controls as escapes),
    and no '"' or ']' is left unescaped."""
    escaped = escape_sd_value(text)
    [(_, [(_, value)])] = parse_sd(f'[x@1 p="{escaped}"]')
    assert value == expected_text(text)


@given(_signals, st.booleans(), st.integers(min_value=20, max_value=300))
@settings(max_examples=200, deadline=None)
def test_rfc3164_output_is_one_glibc_style_line(sig: Signal, with_host: bool, limit: int) -> None:
    """Any signal becomes one ``<PRI>Mmm dd HH:MM:SS [host ]app[pid]: text`` line with no
    control bytes; cut to a limit, it is a prefix of that line ending on a whole character,
    then the truncation mark."""
    fmt = Rfc3164Formatter(
        facility=LOCAL3, app_name="app", hostname="h1", include_hostname=with_host
    )
    out, cut = fmt.format(sig)
    assert not cut
    assert not _CONTROL.search(out)
    host = "h1 " if with_host else ""
    head = re.match(
        rf"<(\d+)>[A-Z][a-z]{{2}} [ 123]\d \d\d:\d\d:\d\d {host}app\[{sig.pid}\]: ".encode(), out
    )
    assert head
    assert int(head[1]) == LOCAL3 * 8 + SEVERITY[sig.level]
    text = out[head.end() :].decode("utf-8")
    assert text.startswith(expected_text(sig.msg or sig.id or sig.kind))
    short, cut = fmt.format(sig, limit)
    assert cut == (len(out) > limit)
    assert len(short) <= limit or not cut
    if cut:
        assert short.endswith(TRUNCATION_MARK.encode())
        short = short[: -len(TRUNCATION_MARK)]
    assert out.startswith(short)
    short.decode("utf-8")


# -- hostile messages over a stream, against a receiver with rsyslog's default limits ----------

FORGED = "<9>1 2026-01-01T00:00:00Z evilhost evilapp 666 EVIL - forged record"
RSYSLOG_DEFAULT_MAX = 8096  # what rsyslog keeps of a frame by default


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_a_long_message_cannot_forge_records_or_swallow_the_next(
    tmp_path: Path, transport: str
) -> None:
    """Against an rsyslog with its default maxMessageSize (8 KiB: it keeps 8096 bytes of a
    frame), a 20 KB message carrying a forged record where rsyslog would cut arrives as one
    record, cut and marked, counted as truncated; the signals
    after it arrive as themselves; nothing from 'evilhost' appears."""
    require(transport != "tls" or have_tls(), "rsyslog's TLS driver or openssl is missing")
    rs = Rsyslog(tmp_path / "rs", tls=transport == "tls", max_message_size=None)
    await anyio.to_thread.run_sync(rs.start)
    try:
        app = app_name()
        sink = sink_for(rs, transport, app)
        # The forged record starts exactly where a receiver limited to 8 KiB cuts the message.
        probe = SyslogSink("127.0.0.1", transport="udp", app_name=app, facility="local3")
        head = len(probe.encode([make_signal("", data={"seq": 0})])[0]) + 1  # and a space
        long_text = "x" * (RSYSLOG_DEFAULT_MAX - head) + FORGED + "\n" + FORGED + "x" * 12_000

        async def emit(hub: Telemetry, i: int) -> None:
            await hub.log("info", long_text if i == 0 else f"after {i}", seq=i)

        stats, _ = await send_all(sink, emit, 4)
        await arrived(rs, transport, app, 4)
    finally:
        await anyio.to_thread.run_sync(rs.stop)
    everything = rs.records(transport)
    ours = [r for r in everything if r["app"] == app]
    forged = [(r["hostname"], r["app"][:20], r["msg"][:40]) for r in everything if r not in ours]
    assert forged == [], [r["msg"][-30:] for r in ours]
    assert not [r for r in everything if r["hostname"] == "evilhost" or r["app"] == "evilapp"]
    assert [parse_sd(r["sd"])[0][1] for r in ours] == [[("seq", str(i))] for i in range(4)]
    assert ours[0]["msg"].endswith(TRUNCATION_MARK)
    assert [r["msg"] for r in ours[1:]] == ["after 1", "after 2", "after 3"]
    assert_accounted(stats)
    h = stats.handlers["syslog"]
    assert (h.written, h.dropped, h.sink_counters["truncated"]) == (4, {}, 1)


async def test_a_udp_burst_leaves_in_slices_that_a_receiver_keeps_up_with() -> None:
    """A burst far larger than the receiver's socket buffer goes out a slice of UDP_SLICE
    datagrams at a time, with the loop free between two slices: a receiver that reads whenever
    it gets to run (here a task on the same loop, so that how busy the machine is does not
    matter) receives every datagram. Sent back to back, most of the burst would not fit.
    (How many arrive at rsyslogd, next to the standard library's SysLogHandler, is measured by
    ``python -m tests.sinks.udp_delivery``: a figure of the machine, not a test.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        probe = SyslogSink("127.0.0.1", transport="udp", app_name="b")
        size = len(probe.encode([make_signal("user joined", data={"seq": 99_999})])[0])
        fits = udp_delivery.datagrams_that_fit(rx, size)
        assert fits >= 4 * UDP_SLICE, "the receiver's buffer cannot hold a few slices"
        n = 4 * fits
        rx.setblocking(False)
        loop = asyncio.get_running_loop()
        seqs: list[int] = []

        async def receive() -> None:
            while True:
                data = await loop.sock_recv(rx, 65536)
                seqs.append(int(re.findall(rb'seq="(\d+)"', data)[0]))

        sink = SyslogSink("127.0.0.1", transport="udp", port=rx.getsockname()[1], app_name="b")
        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            stats, _ = await send_all(sink, lambda hub, i: hub.log("info", "user joined", seq=i), n)
            with anyio.move_on_after(10):  # what is missing then never comes: not a timing
                while len(seqs) < n:  # noqa: ASYNC110 - the last slice is being read
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert_accounted(stats)
    assert stats.handlers["syslog"].written == n
    assert (len(seqs), sorted(seqs)) == (n, list(range(n))), f"{n - len(seqs)} of {n} lost"
