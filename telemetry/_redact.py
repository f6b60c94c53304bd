"""Redaction: secrets never reach a sink.

One rule decides what is secret, `KeyMatcher`: a key (a data key, a header name, a query
parameter) is secret when it is one of the names, or matches one of the glob patterns, of a key
list, case-insensitively, with ``-`` read as ``_`` (``X-Api-Key`` matches ``*api_key*``). The
same rule serves [`redact`][telemetry.redact] (the middleware), the ASGI middleware's recorded
headers and the logging bridge's messages (query strings in uvicorn's access lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from fnmatch import translate
from typing import Any
from urllib.parse import unquote

from msgspec.structs import replace

from ._signal import ErrorInfo, Signal

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "REDACTED",
    "KeyMatcher",
    "Redactor",
    "redact",
    "redact_query",
]

DEFAULT_REDACT_KEYS = frozenset(
    {
        "*password*",
        "*passwd*",
        "pwd",
        "*secret*",
        "*token*",
        "*api_key*",
        "*apikey*",
        "*session*",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "*private_key*",
        "*credential*",
        # The names the patterns above cover, kept so that ``key in DEFAULT_REDACT_KEYS``
        # still answers for the common ones.
        "password",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "set-cookie",
        "private_key",
        "client_secret",
        "x-api-key",
    }
)
"""Keys whose values are replaced, at any depth: names, and glob patterns (with ``*``), matched
case-insensitively with ``-`` read as ``_``. Extend it: ``redact([*DEFAULT_REDACT_KEYS,
"ssn"])``."""
REDACTED = "[REDACTED]"

# A query parameter in a URL or in text: the separator, the name, the value (up to the next
# separator, space, quote or fragment).
_QUERY_PARAM = re.compile(
    r"(?P<sep>^|[?&;,\s(\[{])(?P<name>[^=&;,#\s\"'?(\[{]+)=(?P<value>[^&;,#\s\"')\]}]*)"
)


class KeyMatcher:
    """Decides whether a key is secret: ``matcher("DB_Password")``. Answers are cached."""

    def __init__(self, keys: Iterable[str]) -> None:
        keys = [keys] if isinstance(keys, str) else list(keys)
        names: set[str] = set()
        patterns: list[str] = []
        for key in keys:
            norm = _norm(key)
            if "*" in norm or "?" in norm or "[" in norm:
                patterns.append(translate(norm))
            else:
                names.add(norm)
        self.names = frozenset(names)
        self._pattern = re.compile("|".join(patterns)) if patterns else None
        self._cache: dict[str, bool] = {}

    def __call__(self, key: object) -> bool:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if not isinstance(key, str):
            return False
        hit = self._cache.get(key)
        if hit is None:
            norm = _norm(key)
            pattern = self._pattern
            hit = norm in self.names or (pattern is not None and bool(pattern.match(norm)))
            if len(self._cache) < 4096:
                self._cache[key] = hit
        return hit


def _norm(key: str) -> str:
    return key.lower().replace("-", "_")


def redact_query(text: str, secret: Callable[[object], bool], replacement: str = REDACTED) -> str:
    """``text`` with the values of secret query parameters (``?token=...&page=2``) replaced,
    wherever a URL or query string appears in it."""
    if "=" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        name = m["name"]
        if secret(name) or secret(unquote(name)):
            return f"{m['sep']}{name}={replacement}"
        return m[0]

    return _QUERY_PARAM.sub(one, text)


class _Walk:
    """Replaces secret values in nested data, without recursion (no depth limit): mappings by
    key, ``(key, value)`` pairs in lists, tuples and sets (headers as ASGI gives them), every
    container walked; cycles left as they are."""

    def __init__(self, secret: KeyMatcher, replacement: str) -> None:
        self.secret = secret
        self.replacement = replacement

    def __call__(self, value: Any) -> tuple[Any, bool]:
        # Each frame: [container, items to visit, new items so far, changed?]; a child's
        # result is appended to its parent's new items when the child's frame ends.
        if not _is_container(value):
            return value, False
        stack: list[list[Any]] = [self._frame(value)]
        on_path = {id(value)}
        result: tuple[Any, bool] = (value, False)
        while stack:
            frame = stack[-1]
            items = frame[1]
            try:
                key, item = next(items)
            except StopIteration:
                stack.pop()
                on_path.discard(id(frame[0]))
                built = self._build(frame) if frame[3] else frame[0]
                if stack:
                    parent = stack[-1]
                    parent[2].append((frame[4], built))
                    parent[3] = parent[3] or frame[3]
                else:
                    result = (built, frame[3])
                continue
            if key is not _NO_KEY and self.secret(key):
                frame[2].append((key, self.replacement))
                frame[3] = True
            elif _is_container(item) and id(item) not in on_path:
                child = self._frame(item)
                child.append(key)
                stack.append(child)
                on_path.add(id(item))
            else:
                frame[2].append((key, item))
        return result

    def _frame(self, value: Any) -> list[Any]:
        if isinstance(value, dict):
            items: Any = iter(value.items())
        elif _is_pair(value):
            items = iter([(value[0], value[1])])
        else:
            items = ((_NO_KEY, v) for v in value)
        return [value, items, [], False]

    def _build(self, frame: list[Any]) -> Any:
        value, new = frame[0], frame[2]
        if isinstance(value, dict):
            return dict(new)
        if _is_pair(value):
            ((k, v),) = new
            return type(value)((k, v)) if isinstance(value, tuple) else [k, v]
        items = [v for _, v in new]
        if isinstance(value, (set, frozenset)):
            try:
                return type(value)(items)
            except TypeError:  # an unhashable replacement: a list says the same
                return items
        return tuple(items) if isinstance(value, tuple) else items


_NO_KEY = object()


def _is_container(value: object) -> bool:
    return isinstance(value, (dict, list, tuple, set, frozenset))


def _is_pair(value: object) -> bool:
    """A ``(name, value)`` pair, as headers and form fields come: a 2-sequence with a text key."""
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and isinstance(value[0], (str, bytes))
        and not isinstance(value[1], (dict, list, tuple, set, frozenset))
    )


def _scrub_error(err: ErrorInfo, scrub: Callable[[str], str]) -> tuple[ErrorInfo, bool]:
    cause, changed = (None, False) if err.cause is None else _scrub_error(err.cause, scrub)
    message = scrub(err.message)
    if message == err.message and not changed:
        return err, False
    return replace(err, message=message, cause=cause), True


class Redactor:
    """Everything redaction does, for one key list: `value` for nested data, `text`
    for messages, [`error`][telemetry.error] for an exception's messages,
    [`signal`][telemetry.signal] for all of a signal (what [`redact`][telemetry.redact] runs)."""

    def __init__(
        self,
        keys: Iterable[str] = DEFAULT_REDACT_KEYS,
        *,
        replacement: str = REDACTED,
        query_params: bool = True,
        text_patterns: Iterable[str | re.Pattern[str]] = (),
    ) -> None:
        self.secret = KeyMatcher(keys)
        self.replacement = replacement
        self.query_params = query_params
        self._walk = _Walk(self.secret, replacement)
        self._patterns = [re.compile(p) if isinstance(p, str) else p for p in text_patterns]
        self._texts = bool(self._patterns) or query_params

    def value(self, value: Any) -> tuple[Any, bool]:
        """``value`` with secret values replaced, and whether anything was."""
        return self._walk(value)

    def text(self, text: str) -> str:
        """``text`` with the matches of the text patterns and secret query parameters replaced."""
        for pattern in self._patterns:
            text = pattern.sub(self.replacement, text)
        if self.query_params:
            text = redact_query(text, self.secret, self.replacement)
        return text

    def error(self, err: ErrorInfo) -> tuple[ErrorInfo, bool]:
        """The exception's messages (its cause's too) through `text`."""
        return _scrub_error(err, self.text)

    def signal(self, sig: Signal) -> Signal:
        """``sig`` with every secret replaced; ``sig`` itself when there is none."""
        data, dc = self._walk(sig.data) if sig.data else (sig.data, False)
        ctx, cc = self._walk(sig.ctx) if sig.ctx else (sig.ctx, False)
        changes: dict[str, Any] = {}
        if dc or cc:
            changes.update(data=data, ctx=ctx)
        if self._texts:
            if sig.msg:
                msg = self.text(sig.msg)
                if msg != sig.msg:
                    changes["msg"] = msg
            if sig.error is not None:
                error, ec = _scrub_error(sig.error, self.text)
                if ec:
                    changes["error"] = error
        return replace(sig, **changes) if changes else sig


def redact(
    keys: Iterable[str] = DEFAULT_REDACT_KEYS,
    *,
    replacement: str = REDACTED,
    query_params: bool = True,
    text_patterns: Iterable[str | re.Pattern[str]] = (),
) -> Callable[[Signal], Signal]:
    """A middleware that replaces secret values in ``data`` and ``ctx``, at any depth.

    Mappings are redacted by key, ``(name, value)`` pairs (headers) by name, inside lists,
    tuples and sets too, however deep. Signals with nothing to redact are passed on as they
    are (no copy).

    Args:
        keys: Names and glob patterns (``"*token*"``) matched case-insensitively, ``-`` read
            as ``_``; by default [`DEFAULT_REDACT_KEYS`][telemetry.DEFAULT_REDACT_KEYS]
            (``*password*``, ``*token*``, ``*secret*``, ``*api_key*``, ``*session*``,
            ``authorization``, ``cookie``, ...).
        replacement: What a secret value becomes.
        query_params: Whether secret ``name=value`` pairs in the message and the exception's
            message (``...?token=abc``, ``password=abc``) are replaced too.
        text_patterns: Regular expressions whose matches in the message and the exception's
            message are replaced (``r"Bearer \\S+"``).

    Returns:
        The middleware, for a handler's ``middleware`` list.
    """
    redactor = Redactor(
        keys, replacement=replacement, query_params=query_params, text_patterns=text_patterns
    )
    signal = redactor.signal

    def middleware(sig: Signal) -> Signal:
        return signal(sig)

    middleware.__qualname__ = "redact"
    return middleware
