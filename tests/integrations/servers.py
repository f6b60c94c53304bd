"""Real servers for the integration tests: uvicorn in this process, or in a child process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import uvicorn

START_TIMEOUT_S = 20.0


@contextlib.asynccontextmanager
async def serve(app: Any, *, lifespan: str = "off", **options: Any) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 and a free port, in a task; yield ``host:port``.

    uvicorn does not configure logging (``log_config=None``), so tests leave the process's
    logging as they found it. Leaving the block stops the server the way a signal does.
    """
    options.setdefault("log_level", "warning")
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan=lifespan, log_config=None, **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        with anyio.fail_after(START_TIMEOUT_S):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn exited before it started")
                await asyncio.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def listening_socket() -> Iterator[socket.socket]:
    """A TCP socket listening on 127.0.0.1 and a port the kernel chose, to hand to a child
    uvicorn with ``--fd`` (no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    try:
        yield sock
    finally:
        sock.close()


def start_uvicorn(
    target: str,
    sock: socket.socket,
    *,
    app_dir: Path,
    env: Mapping[str, str],
    log: Path,
) -> subprocess.Popen[bytes]:
    """Start ``python -m uvicorn target`` serving on ``sock``; its output goes to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                target,
                "--app-dir",
                str(app_dir),
                "--fd",
                str(sock.fileno()),
            ],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
        )
