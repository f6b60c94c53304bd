"""Filters: which signals go on. Cheapest first: level, names, sampling, predicate, rate limit.

Everything here is compiled once (patterns to regular expressions, level tables to a floor and a
per-namespace cache) so that a decision on the emitting path is a comparison or a dict look-up.
The same [`Filters`][telemetry._filters.Filters] serve the hub (call filters) and each handler
(handler filters).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from ._errors import ConfigError
from ._options import HANDLER
from ._signal import Signal, parse_level

__all__ = [
    "Filters",
    "LevelSpec",
    "NameFilter",
    "RateLimiter",
    "parse_rate",
]

NameSpec: TypeAlias = "str | Iterable[str] | Mapping[str, str | Iterable[str]] | None"
LevelLike: TypeAlias = "str | int"
MinLevel: TypeAlias = "LevelLike | Mapping[str, LevelLike]"
RateSpec: TypeAlias = "str | Iterable[str] | None"

_CACHE_MAX = 4096


def _glob_to_regex(pattern: str) -> str:
    # "app.*" matches "app.db" and "app.db.pool"; "app(.*)" matches "app" too (as in Telemere).
    if pattern.endswith("(.*)"):
        return re.escape(pattern[:-4]) + r"(?:\..*)?"
    return ".*".join(re.escape(part) for part in pattern.split("*"))


def _patterns(spec: str | Iterable[str], param: str) -> re.Pattern[str]:
    items = [spec] if isinstance(spec, str) else list(spec)
    if not items or not all(isinstance(p, str) and p for p in items):
        raise ConfigError(param, f"must be a non-empty glob pattern or list of them, got {spec!r}")
    return re.compile("|".join(f"(?:{_glob_to_regex(p)})" for p in items))


class NameFilter:
    """Allow / deny glob patterns over a name (a namespace, kind or id); decisions are cached.

    The spec is a pattern (``"app.*"``), a list of patterns (allow any), or a mapping
    ``{"allow": ..., "deny": ...}``. Deny wins. A name that is ``None`` passes only when there
    is no allow list.
    """

    __slots__ = ("_allow", "_cache", "_deny", "param")

    def __init__(self, spec: NameSpec, *, param: str) -> None:
        self.param = param
        self._allow: re.Pattern[str] | None = None
        self._deny: re.Pattern[str] | None = None
        self._cache: dict[str | None, bool] = {}
        if spec is None:
            return
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"allow", "deny"}
            if unknown:
                raise ConfigError.choice(f"{param} key", sorted(unknown)[0], ("allow", "deny"))
            if spec.get("allow") is not None:
                self._allow = _patterns(spec["allow"], param)
            if spec.get("deny") is not None:
                self._deny = _patterns(spec["deny"], param)
        else:
            self._allow = _patterns(spec, param)

    def __bool__(self) -> bool:
        return self._allow is not None or self._deny is not None

    def allows(self, name: str | None) -> bool:
        """Whether ``name`` passes."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        if name is None:
            ok = self._allow is None
        else:
            ok = (self._allow is None or self._allow.fullmatch(name) is not None) and (
                self._deny is None or self._deny.fullmatch(name) is None
            )
        if len(self._cache) < _CACHE_MAX:
            self._cache[name] = ok
        return ok


class LevelSpec:
    """A minimum level, globally or per namespace pattern (the most specific pattern wins).

    ``"info"`` or ``{"app.db.*": "warn", "app.*": "debug", "*": "info"}``. A pattern is more
    specific the more literal characters it has. Namespaces that no pattern matches use
    ``default``. ``floor`` is the lowest level any namespace accepts: a signal below it is
    refused before its namespace is even looked up.
    """

    __slots__ = ("_cache", "_rules", "default", "floor", "spec")

    def __init__(self, spec: MinLevel, *, default: LevelLike = "info", param: str = "min_level"):
        #: The setting as given: ``LevelSpec(spec, default=...)`` builds this one again.
        self.spec = spec
        self._cache: dict[str | None, int] = {}
        self._rules: list[tuple[re.Pattern[str], int]] = []
        if isinstance(spec, Mapping):
            rules = []
            base = parse_level(default, param)
            for pattern, level in spec.items():
                if not isinstance(pattern, str) or not pattern:
                    raise ConfigError(param, f"keys must be namespace patterns, got {pattern!r}")
                lv = parse_level(level, f"{param}[{pattern!r}]")
                if pattern == "*":
                    base = lv
                    continue
                literal = len(pattern.replace("*", "").replace("(.)", ""))
                rules.append((literal, re.compile(_glob_to_regex(pattern)), lv))
            rules.sort(key=lambda r: -r[0])
            self._rules = [(rx, lv) for _, rx, lv in rules]
            self.default = base
        else:
            self.default = parse_level(spec, param)
        self.floor = min([self.default, *(lv for _, lv in self._rules)])

    @property
    def per_namespace(self) -> bool:
        """Whether any namespace has its own level."""
        return bool(self._rules)

    def level_for(self, ns: str | None) -> int:
        """The minimum level for namespace ``ns``."""
        try:
            return self._cache[ns]
        except KeyError:
            pass
        level = self.default
        if ns is not None:
            for rx, lv in self._rules:
                if rx.fullmatch(ns):
                    level = lv
                    break
        if len(self._cache) < _CACHE_MAX:
            self._cache[ns] = level
        return level


_UNITS = {
    "ms": 1_000_000,
    "s": 10**9,
    "sec": 10**9,
    "m": 60 * 10**9,
    "min": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
}
_RATE_RX = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(ms|sec|s|min|m|h|d)\s*$")


def parse_rate(spec: str | Iterable[str], param: str = "rate_limit") -> tuple[tuple[int, int], ...]:
    """Parse ``"10/s"``, ``"100/5m"`` or a list of them into ``((count, window_ns), ...)``."""
    items = [spec] if isinstance(spec, str) else list(spec)
    windows = []
    for item in items:
        m = _RATE_RX.match(item) if isinstance(item, str) else None
        if m is None or int(m.group(1)) < 1 or m.group(2) == "0":
            raise ConfigError(
                param,
                f"must look like '10/s', '100/5m' or a list of such (units ms, s, m, h, d); "
                f"got {item!r}",
            )
        windows.append((int(m.group(1)), int(m.group(2) or 1) * _UNITS[m.group(3)]))
    if not windows:
        raise ConfigError(param, "must name at least one window, got an empty list")
    return tuple(windows)


class RateLimiter:
    """At most N signals per window, for every window at once, counted per key.

    Fixed windows aligned to the first signal of each key. Keys (an id, a user id, ...) are
    bounded: past `max_keys` the oldest key is forgotten.

    Args:
        spec: The windows: `"10/s"`, `"100/5m"` (units ms, s, m, h, d), or a list of them,
            each of which applies.
        max_keys: Most keys counted at once.
        clock: Nanoseconds from a monotonic clock (a test gives its own).
        param: The option named in the error.

    Raises:
        ConfigError: `spec` is not a window or a list of them.
    """

    __slots__ = ("_clock", "_state", "max_keys", "windows")

    def __init__(
        self,
        spec: str | Iterable[str],
        *,
        max_keys: int = 10_000,
        clock: Callable[[], int] = time.monotonic_ns,
        param: str = "rate_limit",
    ) -> None:
        self.windows = parse_rate(spec, param)
        self.max_keys = max_keys
        self._clock = clock
        # key -> [window_start_ns, count] per window
        self._state: dict[Any, list[list[int]]] = {}

    def allow(self, key: Any = None) -> bool:
        """Count one signal for a key and say whether every window still has room.

        Args:
            key: What the signal is counted under (the hub's `limit_by` gives it).

        Returns:
            Whether the signal is let through; one that is not is not counted.
        """
        now = self._clock()
        state = self._state.get(key)
        if state is None:
            if len(self._state) >= self.max_keys:
                del self._state[next(iter(self._state))]
            state = self._state[key] = [[now, 0] for _ in self.windows]
        ok = True
        for (limit, span), slot in zip(self.windows, state, strict=True):
            if now - slot[0] >= span:
                slot[0] = now
                slot[1] = 0
            if slot[1] >= limit:
                ok = False
        if ok:
            for slot in state:
                slot[1] += 1
        return ok


class Filters:
    """One set of filters: level (global or per namespace), namespace / kind / id patterns,
    sampling, a ``when`` predicate and a rate limit.

    ``sample`` never refuses errors (kind ``error`` or level error and above) unless
    ``sample_errors=True``. ``limit_by`` picks the rate-limit key from a signal (default: its id).
    """

    def __init__(
        self,
        *,
        min_level: MinLevel | None = None,
        ns_filter: NameSpec = None,
        kind_filter: NameSpec = None,
        id_filter: NameSpec = None,
        sample: float | None = None,
        sample_errors: bool = False,
        when: Callable[[Signal], bool] | None = None,
        rate_limit: RateSpec = None,
        limit_by: Callable[[Signal], Any] | None = None,
        default_level: LevelLike = "trace",
        prefix: str = "",
    ) -> None:
        self.levels = LevelSpec(
            default_level if min_level is None else min_level,
            default=default_level,
            param=f"{prefix}min_level",
        )
        self.ns = NameFilter(ns_filter, param=f"{prefix}ns_filter")
        self.kind = NameFilter(kind_filter, param=f"{prefix}kind_filter")
        self.id = NameFilter(id_filter, param=f"{prefix}id_filter")
        self.sample: float | None = HANDLER["sample"].check(sample, f"{prefix}sample")
        self.sample_errors = sample_errors
        if when is not None and not callable(when):
            raise ConfigError(f"{prefix}when", f"must be a callable taking a Signal, got {when!r}")
        self.when = when
        self.limiter = (
            None if rate_limit is None else RateLimiter(rate_limit, param=f"{prefix}rate_limit")
        )
        if limit_by is not None and not callable(limit_by):
            raise ConfigError(f"{prefix}limit_by", f"must be a callable, got {limit_by!r}")
        self.limit_by = limit_by
        self.names = bool(self.ns or self.kind or self.id)
        #: Whether checks remain once the signal is built (``when``, the rate limit).
        self.post_build = when is not None or self.limiter is not None
        self.active = self._active()

    @classmethod
    def optional(
        cls,
        *,
        min_level: MinLevel | None = None,
        ns_filter: NameSpec = None,
        kind_filter: NameSpec = None,
        id_filter: NameSpec = None,
        sample: float | None = None,
        sample_errors: bool = False,
        when: Callable[[Signal], bool] | None = None,
        rate_limit: RateSpec = None,
        limit_by: Callable[[Signal], Any] | None = None,
    ) -> Filters | None:
        """A handler's filters, or ``None`` when none is set (``sample_errors`` alone sets
        nothing); levels default to ``trace``, so that the hub's decide.

        Raises:
            ConfigError: A filter option is not allowed.
        """
        given = (min_level, ns_filter, kind_filter, id_filter, sample, when, rate_limit, limit_by)
        if all(v is None for v in given):
            return None
        return cls(
            min_level=min_level,
            ns_filter=ns_filter,
            kind_filter=kind_filter,
            id_filter=id_filter,
            sample=sample,
            sample_errors=sample_errors,
            when=when,
            rate_limit=rate_limit,
            limit_by=limit_by,
            default_level="trace",
        )

    def _active(self) -> bool:
        """Whether anything past the level needs checking (the emitting path skips it if not)."""
        return bool(
            self.names
            or self.levels.per_namespace
            or self.sample is not None
            or self.when is not None
            or self.limiter is not None
        )

    def set_levels(self, levels: LevelSpec) -> None:
        """Swap in new minimum levels (while running, from any thread: one assignment each)."""
        self.levels = levels
        self.active = self._active()

    def allows_names(self, level: int, ns: str | None, kind: str, id: str | None) -> bool:
        """Level for the namespace, and the namespace / kind / id patterns."""
        if self.levels.per_namespace and level < self.levels.level_for(ns):
            return False
        return not self.names or (
            self.ns.allows(ns) and self.kind.allows(kind) and self.id.allows(id)
        )

    def sampled_out(self, level: int, kind: str) -> bool:
        """Whether sampling refuses a signal of this level and kind (errors are exempt)."""
        if self.sample is None or self.sample >= 1.0:
            return False
        if not self.sample_errors and (kind == "error" or level >= 17):
            return False
        return random.random() >= self.sample

    def allows_built(self, sig: Signal) -> bool:
        """The checks that need the built signal: ``when``, then the rate limit (it counts)."""
        if self.when is not None and not self.when(sig):
            return False
        if self.limiter is not None:
            key = sig.id if self.limit_by is None else self.limit_by(sig)
            return self.limiter.allow(key)
        return True

    def allows(self, sig: Signal, level: int) -> bool:
        """Every check, on a built signal (what a handler runs)."""
        if level < self.levels.floor:
            return False
        return (
            self.allows_names(level, sig.ns, sig.kind, sig.id)
            and not self.sampled_out(level, sig.kind)
            and self.allows_built(sig)
        )
