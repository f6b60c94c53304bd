"""Environment switches, read once when a hub is created.

========================  =======================================================  ==========
Variable                  Effect                                                   Default
========================  =======================================================  ==========
``TELEMETRY_MIN_LEVEL``   minimum level for every hub (overrides ``min_level``)    not set
``TELEMETRY_SYNC``        ``1``: every handler writes inline (debugging)           ``0``
``TELEMETRY_DISABLED``    ``1``: every creator returns at once, nothing is built   ``0``
``TELEMETRY_FORMAT``      console format: ``auto``, ``text``, ``json``, ``logfmt``   ``auto``
``TELEMETRY_CONFIG``      a configuration file read by a hub created without       not set
                          handlers (see `telemetry._config`)
``TELEMETRY_DEBUG_EMIT``  ``1``: print the source of each emitter compiled, with   ``0``
                          its filename, to stderr (see `telemetry._emit_source`)
========================  =======================================================  ==========

A hub configured by a file takes its options in this order, the later winning: the keywords
given in code, then the file, then the other ``TELEMETRY_*`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from ._errors import ConfigError
from ._signal import parse_level

__all__ = ["VARIABLES", "EnvConfig", "read_env"]

VARIABLES = (
    "TELEMETRY_MIN_LEVEL",
    "TELEMETRY_SYNC",
    "TELEMETRY_DISABLED",
    "TELEMETRY_FORMAT",
    "TELEMETRY_CONFIG",
    "TELEMETRY_DEBUG_EMIT",
)
"""Every variable `read_env` reads."""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
_CONSOLE = ("auto", "json", "logfmt", "text")


class EnvConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the environment asked for."""

    min_level: int | None = None
    sync: bool = False
    disabled: bool = False
    format: str = "auto"
    config: str | None = None
    debug_emit: bool = False


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError.choice(name, raw, ("0", "1", "true", "false", "yes", "no", "on", "off"))


def read_env(env: Mapping[str, str] | None = None) -> EnvConfig:
    """Read the ``TELEMETRY_*`` variables; a malformed value raises
    [`ConfigError`][telemetry.ConfigError]."""
    env = os.environ if env is None else env
    level = env.get("TELEMETRY_MIN_LEVEL", "").strip()
    fmt = env.get("TELEMETRY_FORMAT", "auto").strip().lower() or "auto"
    if fmt not in _CONSOLE:
        raise ConfigError.choice("TELEMETRY_FORMAT", fmt, _CONSOLE)
    return EnvConfig(
        min_level=parse_level(level.lower(), "TELEMETRY_MIN_LEVEL") if level else None,
        sync=_flag(env, "TELEMETRY_SYNC"),
        disabled=_flag(env, "TELEMETRY_DISABLED"),
        format=fmt,
        config=env.get("TELEMETRY_CONFIG", "").strip() or None,
        debug_emit=_flag(env, "TELEMETRY_DEBUG_EMIT"),
    )
