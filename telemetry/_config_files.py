"""Reading a configuration: the file's format, ``${VAR}`` from the environment, and masking
what must not be printed.

Nothing here knows what the options mean: ``telemetry._config`` checks them.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import ConfigError
from ._extras import install_hint
from ._redact import DEFAULT_REDACT_KEYS

__all__ = ["FORMATS", "MASK", "expand", "mask", "read_file", "secret", "switch"]

#: File suffixes and the format each is read as.
FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
#: What a masked value is printed as.
MASK = "***"
_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "private_key")


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in a TOML, YAML (when PyYAML is installed) or JSON file, by its suffix."""
    p = Path(path)
    kind = FORMATS.get(p.suffix.lower())
    if kind is None:
        raise ConfigError.choice(f"{p} suffix", p.suffix, FORMATS)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(str(p), f"cannot be read: {exc.strerror or exc}") from None
    data: object
    try:
        if kind == "toml":
            data = tomllib.loads(raw.decode("utf-8"))
        elif kind == "json":
            data = json.loads(raw)
        else:
            try:
                yaml = importlib.import_module("yaml")
            except ImportError:
                raise ConfigError(
                    str(p), f"is YAML, which needs PyYAML: {install_hint('yaml')}"
                ) from None
            data = yaml.safe_load(raw) or {}
    except ConfigError:
        raise
    except Exception as exc:  # each parser has its own error type; all say where
        raise ConfigError(str(p), f"is not valid {kind.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(p), f"must hold a table of options, got {type(data).__name__}")
    return data


def expand(
    config: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, bool], list[tuple[str, str]]]:
    """``config`` with ``${VAR}``, ``${VAR:-default}`` and ``$$`` put in, in every string.

    Also returns the paths (``handlers.otlp.headers.authorization``) of the strings that used
    a variable, each with whether one of its variables has a secret's name, and the
    ``(path, variable)`` of every variable that is unset and has no default (put in as ``""``).
    """
    used: dict[str, bool] = {}
    unset: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value

        def put(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name is None:
                return "$"
            used[path] = used.get(path, False) or secret(name)
            if name in env:
                return env[name]
            if default is not None:
                return default
            unset.append((path, name))
            return ""

        return _VAR.sub(put, value)

    expanded: dict[str, Any] = walk(config, "")
    return expanded, used, unset


def switch(value: Any) -> Any:
    """A switch read from the environment, spelled as the ``TELEMETRY_*`` switches are
    (``1``, ``true``, ``yes``, ``on``; ``0``, ``false``, ``no``, ``off`` or empty), as a
    string msgspec reads as a boolean; any other value as it is."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("yes", "on"):
            return "true"
        if low in ("", "no", "off"):
            return "false"
    return value


def secret(name: str) -> bool:
    low = name.lower()
    return low in DEFAULT_REDACT_KEYS or any(w in low for w in _SECRET_WORDS)


def mask(resolved: Mapping[str, Any], secret_paths: frozenset[str] = frozenset()) -> Any:
    """``resolved`` with the values of secret-looking keys, of ``headers`` tables and of
    ``secret_paths`` replaced by ``***``."""

    def walk(value: Any, path: str, key: str, hidden: bool) -> Any:
        if isinstance(value, Mapping):
            return {
                k: walk(v, f"{path}.{k}" if path else str(k), str(k), hidden or key == "headers")
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]", key, hidden) for i, v in enumerate(value)]
        if hidden or secret(key) or path in secret_paths:
            return MASK
        return value

    out: Any = walk(resolved, "", "", False)
    return out
