"""uvicorn under the documented set-up (``--log-config`` from ``uvicorn_log_config()``): each of
its records printed once, by our console sink or the stderr fallback, in one format."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "httpx", "uvicorn")

import json
import logging
import logging.config
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from telemetry.integrations.logging import (
    TelemetryHandler,
    install_logging_bridge,
    uninstall_logging_bridge,
)
from telemetry.integrations.uvicorn import UVICORN_LOGGERS, uvicorn_log_config

from .servers import listening_socket

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
#: A line the text format writes: the time first.
SIGNAL_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (INFO |WARN |ERROR) ")


def test_each_uvicorn_record_is_printed_once_in_our_format(tmp_path: Path) -> None:
    config = tmp_path / "uvicorn-logging.json"
    config.write_text(json.dumps(uvicorn_log_config()))
    out = tmp_path / "out.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    with listening_socket() as sock, open(out, "wb") as fh:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "uvicorn_app:app", "--app-dir", str(HERE)),
                *("--fd", str(sock.fileno()), "--log-config", str(config)),
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
        )
        port = sock.getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            # The socket listens already: the request waits in its backlog until uvicorn runs.
            assert client.get("/hello").status_code == 200
            assert client.get("/nope").status_code == 404
            boom = client.get("/boom", headers={"x-request-id": "req-boom"})
            assert boom.status_code == 500
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal it caught
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM), out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = out.read_text().splitlines()
    records = [line for line in lines if not line.startswith("    ")]
    assert all(SIGNAL_LINE.match(line) for line in records), "\n".join(records)
    for text in (
        "[uvicorn.error] Started server process",
        "[uvicorn.error] Waiting for application startup.",
        "[uvicorn.error] Application startup complete.",
        "[uvicorn.error] Uvicorn running on",
        '"GET /hello HTTP/1.1" 200',
        '"GET /nope HTTP/1.1" 404',
        '"GET /boom HTTP/1.1" 500',
        "[uvicorn.error] Exception in ASGI application",
        "[uvicorn.error] Shutting down",
        "[uvicorn.error] Waiting for application shutdown.",
        "[uvicorn.error] Application shutdown complete.",
        "[uvicorn.error] Finished server process",
    ):
        assert sum(text in line for line in records) == 1, (text, "\n".join(records))
    (exception,) = [line for line in records if "Exception in ASGI application" in line]
    assert "request_id=req-boom" in exception and "trace=" in exception
    (not_found,) = [line for line in records if "span http.request" in line and "/nope" in line]
    assert "[uvicorn_app]" in not_found


def test_the_config_makes_the_bridge_uvicorns_only_handler() -> None:
    """uvicorn's two loggers get the bridge as their only handler (uvicorn.error propagates to
    uvicorn); a logging bridge installed afterwards (the lifespan's) leaves them alone."""
    names = (*UVICORN_LOGGERS, "")
    saved = {n: (lg.handlers[:], lg.level, lg.propagate) for n in names for lg in [get(n)]}
    try:
        logging.config.dictConfig(uvicorn_log_config("warn"))
        for name in ("uvicorn", "uvicorn.access"):
            (handler,) = get(name).handlers
            assert isinstance(handler, TelemetryHandler)
            assert (get(name).level, get(name).propagate) == (logging.WARNING, False)
        assert get("uvicorn.error").handlers == []
        assert get("uvicorn.error").propagate
        bridge = install_logging_bridge("info")
        try:
            assert len(get("uvicorn").handlers) == len(get("uvicorn.access").handlers) == 1
            assert bridge in get("").handlers
        finally:
            uninstall_logging_bridge(bridge)
    finally:
        for n, (handlers, level, propagate) in saved.items():
            lg = get(n)
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate


def get(name: str) -> logging.Logger:
    return logging.getLogger(name or None)
