"""File names: the path template (``{time}``, ``{pid}``, ``{host}``) and rotated names.

``logs/session_{time}.jsonl`` becomes ``logs/session_20260810_171534_892341.jsonl``: the time,
with microseconds, when the file was started. ``{pid}`` and ``{host}`` keep the files of several
processes or machines apart. A rotated file keeps its name when the template has ``{time}``
(it already carries one); otherwise it is renamed with the rotation time before the suffix:
``app.jsonl`` becomes ``app.20260810_171534_892341.jsonl`` and a new ``app.jsonl`` is started.
When a name is taken, the time in it is moved on by a microsecond until it is free, so names
always sort in the order the files were started.

`PathTemplate.pattern` recognises the files a template owns (and their ``.gz``), which
is what retention counts and deletes; the active file is excluded by the caller.
"""

from __future__ import annotations

import errno
import os
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .._errors import ConfigError
from .._signal import ProcessInfo

__all__ = ["GZ_SUFFIX", "PLACEHOLDERS", "STAMP_FORMAT", "PathTemplate", "first_free", "stamp"]

PLACEHOLDERS = ("host", "pid", "time")
"""The placeholders a file name may contain."""
STAMP_FORMAT = "%Y%m%d_%H%M%S_%f"
"""How ``{time}`` and rotated names spell a time: ``20260810_171534_892341``."""
_STAMP_RE = r"\d{8}_\d{6}_\d{6}"
GZ_SUFFIX = ".gz"
"""What a compressed file adds to its name."""


def stamp(t: float, *, utc: bool) -> str:
    """The epoch time ``t`` as ``20260810_171534_892341`` (local time unless ``utc``)."""
    return datetime.fromtimestamp(t, UTC if utc else None).strftime(STAMP_FORMAT)


def first_free(
    name_for: Callable[[int], Path], taken: Path | None = None, *, tries: int = 1000
) -> Path:
    """The first of ``name_for(0)``, ``name_for(1)``, ... that names no file (nor its .gz) and
    is not ``taken``; ``name_for(n)`` is the name for a time ``n`` microseconds later.

    Runs in a thread: it looks at the disk.
    """
    for n in range(tries):
        path = name_for(n)
        if (
            path != taken
            # lexists: a symbolic link, even a dangling one, takes the name
            and not os.path.lexists(path)
            and not os.path.lexists(path.with_name(path.name + GZ_SUFFIX))
        ):
            return path
    raise FileExistsError(errno.EEXIST, "no free name for a finished file", str(name_for(0)))


def _host() -> str:
    return ProcessInfo.host.replace(os.sep, "_") or "localhost"


class PathTemplate:
    """A file path with optional ``{time}``, ``{pid}`` and ``{host}`` placeholders.

    Raises [`ConfigError`][telemetry.ConfigError] (naming ``param``) for an unknown placeholder, a
    format spec (``{time:%Y}``), ``{time}`` outside the file name, or a path that ends in a
    separator. ``{{`` and ``}}`` stand for literal braces.
    """

    def __init__(self, path: str | os.PathLike[str], *, param: str = "path") -> None:
        text = os.fspath(path)
        if not isinstance(text, str):
            raise ConfigError(param, f"must be a str or os.PathLike[str], got {path!r}")
        if not text or text.endswith((os.sep, "/")):
            raise ConfigError(param, f"must name a file, got {text!r}")
        head, _, name = text.rpartition(os.sep)
        self.param = param
        self.text = text
        self._head = self._parse(head)
        self._name = self._parse(name)
        if any(field == "time" for _, field in self._head):
            raise ConfigError(param, f"may have {{time}} only in the file name, got {text!r}")
        if not any(lit or field for lit, field in self._name):
            raise ConfigError(param, f"must name a file, got {text!r}")
        fields = {f for _, f in self._head + self._name if f}
        self.has_time = "time" in fields
        """Whether a new name is made at every rotation (else the file is renamed)."""
        self.has_pid = "pid" in fields
        self._sep = os.sep if head or text.startswith(os.sep) else ""

    def _parse(self, text: str) -> list[tuple[str, str | None]]:
        parts: list[tuple[str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ConfigError(self.param, f"has unbalanced braces ({exc}): {text!r}") from None
        for literal, field, spec, conversion in parsed:
            if field is not None and field not in PLACEHOLDERS:
                allowed = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                raise ConfigError(
                    self.param, f"has an unknown placeholder {{{field}}}; allowed: {allowed}"
                )
            if spec or conversion:
                raise ConfigError(
                    self.param, f"placeholders take no format spec, got {{{field}:{spec}}}"
                )
            parts.append((literal, field))
        return parts

    @staticmethod
    def _fill(parts: list[tuple[str, str | None]], values: dict[str, str]) -> str:
        return "".join(lit + (values[f] if f else "") for lit, f in parts)

    def render(self, t: float, *, utc: bool) -> Path:
        """The path for a file started at the epoch time ``t`` by this process."""
        values = {"time": stamp(t, utc=utc), "pid": str(os.getpid()), "host": _host()}
        head = self._fill(self._head, values)
        return Path(head + self._sep + self._fill(self._name, values)).absolute()

    def rotated(self, active: Path, t: float, *, utc: bool) -> Path:
        """The name ``active`` gets when rotated at ``t`` (templates without ``{time}``)."""
        suffix = active.suffix
        stem = active.name[: len(active.name) - len(suffix)] if suffix else active.name
        return active.with_name(f"{stem}.{stamp(t, utc=utc)}{suffix}")

    def _body(self, active: Path) -> str:
        if self.has_time:
            values = {"time": _STAMP_RE, "pid": str(os.getpid()), "host": _host()}
            return "".join(
                re.escape(lit) + ((values[f] if f == "time" else re.escape(values[f])) if f else "")
                for lit, f in self._name
            )
        suffix = active.suffix
        stem = active.name[: len(active.name) - len(suffix)] if suffix else active.name
        return re.escape(stem) + r"\." + _STAMP_RE + re.escape(suffix)

    def pattern(self, active: Path) -> re.Pattern[str]:
        """Matches the names of this template's finished files, compressed or not.

        ``{pid}`` and ``{host}`` are this process's, so that a process manages its own files.
        """
        return re.compile(self._body(active) + f"(?:{re.escape(GZ_SUFFIX)})?")

    def temp_pattern(self, active: Path) -> re.Pattern[str]:
        """Matches half-written compressed files (``NAME.gz.PID.tmp``); group 1 is the pid."""
        return re.compile(self._body(active) + re.escape(GZ_SUFFIX) + r"\.(\d+)\.tmp")
