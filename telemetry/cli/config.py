"""``python -m telemetry check-config [FILE]`` and ``python -m telemetry init [FILE]``.

``check-config`` reads a configuration file (by default the one ``TELEMETRY_CONFIG`` names,
as a hub created without handlers does) as ``Telemetry.from_file`` does (expanding
``${VAR}``, checking every option, building every sink without opening it) and prints the
resolved configuration as JSON, secrets masked; with mistakes it prints them all and exits 1.
``init`` writes `TEMPLATE`, a commented starting file, refusing to overwrite one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import msgspec

from .._config import load_file
from .._errors import ConfigError
from .._hub import Telemetry

__all__ = ["DEFAULT_CONFIG_FILE", "TEMPLATE", "check_config", "write_template"]

PROG = "python -m telemetry"
DEFAULT_CONFIG_FILE = "telemetry.toml"
"""The file ``init`` writes when no name is given."""

TEMPLATE = """\
# aiotelemetry configuration.
#   In code:  hub = Telemetry.from_file("telemetry.toml")
#   Or:       TELEMETRY_CONFIG=telemetry.toml (read by a hub created without handlers,
#             and by telemetry_lifespan()); the other TELEMETRY_* variables still win.
#   Check it: python -m telemetry check-config telemetry.toml
# Every option has the name, the meaning and the checks of the same keyword in code.
# Strings may read the environment: ${VAR}, or ${VAR:-default} when it may be unset.

# The lowest level recorded: trace, debug, info, warn, error, fatal; or a table of
# namespace patterns to levels: { "*" = "info", "myapp.db.*" = "warn" }
min_level = "${LOG_LEVEL:-info}"

# Run on every signal before any handler writes it: dotted names of middleware, or of
# functions that make one (telemetry.redact masks passwords, tokens, cookies, ...).
middleware = ["telemetry.redact"]

# One table per handler. `sink` is the kind (file, console, syslog, journald, otlp, memory,
# or the dotted path of your own Sink subclass); beside it, flat, the sink's options and the
# handler's (mode, buffer_size, workers, batch_size, min_level, ns_filter, sample, ...).

[handlers.file]
sink = "file"
path = "${LOG_DIR:-logs}/app.jsonl"
rotate_bytes = "100 MB"   # start a new file past this size (or rotate_every = "1d")
keep = 10                 # finished files to keep
compress = "gzip"         # compress finished files
# mode = "blocking"       # a full queue: backpressure (default), blocking, dropping, sliding

[handlers.console]
sink = "console"
format = "auto"           # auto (text on a terminal, else JSON lines), text, json, logfmt
min_level = "warn"        # this handler only: on top of the hub's level

# [handlers.syslog]
# sink = "syslog"
# transport = "udp"       # unix (the local socket), udp, tcp
# address = "logs.internal"
# port = 514

# [handlers.otlp]         # needs: pip install 'aiotelemetry[otlp]'
# sink = "otlp"
# enabled = "${OTLP_ENABLED:-false}"
# endpoint = "${OTLP_ENDPOINT:-http://localhost:4318}"
# headers = { authorization = "Bearer ${OTLP_TOKEN:-}" }
"""
"""What ``init`` writes: a configuration that loads as it is, with the common options shown."""


def check_config(
    path: str | None, *, out: TextIO, err: TextIO, env: Mapping[str, str] | None = None
) -> int:
    """Check the file at ``path`` (``None``: the one ``TELEMETRY_CONFIG`` names in ``env``,
    default ``os.environ``); print the resolved configuration; return the exit status."""
    if path is None:
        path = (os.environ if env is None else env).get("TELEMETRY_CONFIG") or None
        if path is None:
            err.write(
                f"{PROG} check-config: give a FILE, or set TELEMETRY_CONFIG to the file "
                f"a hub reads (write one with: {PROG} init)\n"
            )
            return 2
    try:
        plan = load_file(path, hub_type=Telemetry, env=env)
    except ConfigError as exc:
        err.write(f"{PROG} check-config: {exc}\n")
        return 1
    out.write(msgspec.json.format(msgspec.json.encode(plan.resolved)).decode() + "\n")
    names = ", ".join(plan.handlers) or "none"
    off = f"; switched off: {', '.join(plan.disabled)}" if plan.disabled else ""
    err.write(f"{path}: ok; handlers: {names}{off}\n")
    return 0


def write_template(path: str, *, out: TextIO, err: TextIO, force: bool = False) -> int:
    """Write `TEMPLATE` to ``path`` (``-``: to ``out``); return the exit status."""
    if path == "-":
        out.write(TEMPLATE)
        return 0
    target = Path(path)
    if target.exists() and not force:
        err.write(f"{PROG} init: {path} exists; give --force to overwrite it\n")
        return 1
    try:
        target.write_text(TEMPLATE)
    except OSError as exc:
        err.write(f"{PROG} init: cannot write {path}: {exc.strerror or exc}\n")
        return 1
    err.write(f"wrote {path}; check it with: {PROG} check-config {os.fspath(path)}\n")
    return 0
