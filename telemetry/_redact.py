"""Redaction middleware: secrets never reach a sink."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from msgspec.structs import replace

from ._signal import Signal

__all__ = ["DEFAULT_REDACT_KEYS", "REDACTED", "redact"]

#: Keys whose values are replaced, matched case-insensitively, at any depth.
DEFAULT_REDACT_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "authorization",
        "cookie",
        "set-cookie",
        "private_key",
        "client_secret",
        "x-api-key",
    }
)
REDACTED = "[REDACTED]"
_MAX_DEPTH = 16


def redact(
    keys: Iterable[str] = DEFAULT_REDACT_KEYS, *, replacement: str = REDACTED
) -> Callable[[Signal], Signal]:
    """A middleware that replaces values under sensitive keys in ``data`` and ``ctx``.

    Keys match case-insensitively, in nested mappings and in mappings inside lists. Signals with
    nothing to redact are passed on as they are (no copy).
    """
    wanted = frozenset(k.lower() for k in keys)

    def scrub(value: Any, depth: int) -> tuple[Any, bool]:
        if depth > _MAX_DEPTH:
            return value, False
        if isinstance(value, dict):
            changed = False
            out = {}
            for k, v in value.items():
                if isinstance(k, str) and k.lower() in wanted:
                    out[k] = replacement
                    changed = True
                else:
                    nv, c = scrub(v, depth + 1)
                    out[k] = nv
                    changed = changed or c
            return (out, True) if changed else (value, False)
        if isinstance(value, (list, tuple)):
            items = [scrub(v, depth + 1) for v in value]
            if any(c for _, c in items):
                return [v for v, _ in items], True
        return value, False

    def middleware(sig: Signal) -> Signal:
        data, dc = scrub(sig.data, 0) if sig.data else (sig.data, False)
        ctx, cc = scrub(sig.ctx, 0) if sig.ctx else (sig.ctx, False)
        if dc or cc:
            return replace(sig, data=data, ctx=ctx)
        return sig

    middleware.__qualname__ = "redact"
    return middleware
