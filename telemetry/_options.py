"""The hub's and the handlers' options, declared once.

Each option of [`Telemetry`][telemetry.Telemetry] and of
[`Telemetry.add_handler`][telemetry.Telemetry.add_handler] is one
[`Option`][telemetry._options.Option] record below: its name, default, what it allows (type,
bounds, choices) and a one-line description. From these tables come:

- the constructors' checks ([`Option.check`][telemetry._options.Option.check]: the
  [`ConfigError`][telemetry.ConfigError] naming the parameter and what is allowed; the hub adds
  the handler's name);
- the names a misspelt keyword is compared with ([`HUB_NAMES`][telemetry._options.HUB_NAMES],
  [`HANDLER_NAMES`][telemetry._options.HANDLER_NAMES]);
- the bounds of the configuration file's schema (``telemetry._config_schema``);
- the options table of the configuration page, and the ``Args:`` sections of ``Telemetry`` and
  ``add_handler``, which the tests hold to these records.

The signatures of ``Telemetry(...)`` and ``add_handler(...)`` stay written out, keyword by
keyword, so that editors and type checkers see every option; a test holds their names and
defaults to these tables. Nothing here runs on the emitting path: only at construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ._errors import ConfigError, check_int

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_CLOSE_TIMEOUT_S",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_WAIT_S",
    "DEFAULT_RETRY_BACKOFF_S",
    "FILTER_NAMES",
    "HANDLER",
    "HANDLER_NAMES",
    "HANDLER_OPTIONS",
    "HUB",
    "HUB_NAMES",
    "HUB_OPTIONS",
    "MODES",
    "WAITING_MODES",
    "Mode",
    "Option",
    "check_handler_options",
    "markdown_table",
]

#: Queue capacity per handler.
DEFAULT_BUFFER_SIZE = 1024
#: Most signals a worker hands to the sink at once: a whole default queue, so that a busy
#: handler pays one encode and one I/O call per queue-full.
DEFAULT_BATCH_SIZE = 1024
#: Longest an awaited call waits for room in ``backpressure`` mode (the default) before it
#: counts its signal as dropped (``stalled``); until the queue moves again, later calls do not
#: wait for the sink (they give the loop one turn, then drop).
DEFAULT_MAX_WAIT_S = 0.1
#: Retries of a failed batch before it is dropped as ``sink_error``.
DEFAULT_MAX_RETRIES = 3
#: First retry delay; it doubles with every retry.
DEFAULT_RETRY_BACKOFF_S = 0.05
#: How long ``aclose()`` waits for queues to drain before counting the rest as ``timeout``.
DEFAULT_CLOSE_TIMEOUT_S = 10.0

Mode = Literal["backpressure", "blocking", "dropping", "sliding"]
MODES = ("backpressure", "blocking", "dropping", "sliding")
#: The modes in which an awaited call waits for room.
WAITING_MODES = frozenset({"backpressure", "blocking"})

#: What an option holds, as far as the generic check goes: ``int`` and ``number`` are checked
#: against the bounds, ``seconds`` is a number of seconds, ``choice`` one of the choices,
#: ``flag`` any value read as true or false; ``other`` is checked by the part that uses it
#: (the filters, the middleware, the hub's handlers).
Kind = Literal["int", "number", "seconds", "choice", "flag", "other"]


class Option:
    """One option: its name, default, what it allows and what it does.

    Args:
        name: The keyword, as written in code and in a configuration file.
        default: The value when it is not given.
        doc: One line: what the option does.
        kind: What [`check`][telemetry._options.Option.check] verifies (see ``Kind``).
        ge: Least value allowed (numbers).
        gt: Values must be greater than this (numbers).
        le: Greatest value allowed (numbers).
        finite: Whether infinity is refused (numbers).
        choices: The values allowed (``kind="choice"``).
        nullable: Whether ``None`` is allowed besides the kind's values.
        allowed: What is allowed, in words, for the reference table when the kind does not
            say it (``other``).
        in_file: Whether a configuration file may give it.
    """

    __slots__ = (
        "allowed",
        "choices",
        "default",
        "doc",
        "finite",
        "ge",
        "gt",
        "in_file",
        "kind",
        "le",
        "name",
        "nullable",
    )

    def __init__(
        self,
        name: str,
        default: Any,
        doc: str,
        *,
        kind: Kind = "other",
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        finite: bool = False,
        choices: tuple[str, ...] = (),
        nullable: bool = False,
        allowed: str = "",
        in_file: bool = True,
    ) -> None:
        self.name = name
        self.default = default
        self.doc = doc
        self.kind = kind
        self.ge, self.gt, self.le, self.finite = ge, gt, le, finite
        self.choices = choices
        self.nullable = nullable
        self.allowed = allowed or self._describe()
        self.in_file = in_file

    def __repr__(self) -> str:
        return f"<Option {self.name}={self.default!r}>"

    def bounds(self) -> dict[str, float]:
        """The numeric bounds given (``ge``, ``gt``, ``le``), for the file's schema."""
        pairs = (("ge", self.ge), ("gt", self.gt), ("le", self.le))
        return {key: value for key, value in pairs if value is not None}

    def _describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "flag":
            return "true or false"
        if self.kind not in ("int", "number", "seconds"):
            return ""
        word = {"int": "an integer", "number": "a number", "seconds": "a number of seconds"}
        if self.ge is not None and self.le is not None:
            text = f"{word[self.kind]} in [{self.ge:g}, {self.le:g}]"
        else:
            text = " ".join(
                [word[self.kind]]
                + [f"{op} {v:g}" for op, v in ((">=", self.ge), (">", self.gt)) if v is not None]
            )
        return text + (" or None" if self.nullable else "")

    def check(self, value: Any, param: str | None = None) -> Any:
        """``value``, checked and normalised (numbers of seconds as floats, flags as bools).

        Args:
            value: What was given.
            param: The name the error gives the parameter (default: the option's name).

        Returns:
            The value to keep.

        Raises:
            ConfigError: ``value`` is not allowed; the message names the parameter, what was
                given and what is allowed.
        """
        param = param or self.name
        kind = self.kind
        if value is None and self.nullable:
            return None
        if kind == "int":
            return check_int(param, value, int(self.ge or 0))
        if kind == "choice":
            if value not in self.choices:
                raise ConfigError.choice(param, value, self.choices)
            return value
        if kind == "flag":
            return bool(value)
        if kind in ("number", "seconds"):
            if not self._in_bounds(value):
                raise ConfigError(param, f"must be {self.allowed}, got {value!r}")
            return float(value)
        return value

    def _in_bounds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.finite and math.isinf(value))
        )


def _filters(min_level: Any, whose: str) -> tuple[Option, ...]:
    """The call filters, which the hub and each handler both take (a handler's apply after the
    hub's); ``min_level`` is the default level."""
    names = "a name, a list of glob patterns, or a table with allow and deny lists"
    return (
        Option(
            "min_level",
            min_level,
            f"The lowest level {whose} accepts, or namespace patterns mapped to levels.",
            allowed="a level, or a table of namespace patterns to levels",
        ),
        Option("ns_filter", None, "Namespaces to accept or refuse.", allowed=names),
        Option("kind_filter", None, "Kinds to accept or refuse.", allowed=names),
        Option("id_filter", None, "Signal ids to accept or refuse.", allowed=names),
        Option(
            "sample",
            None,
            "The fraction of signals kept (errors always are, unless sample_errors).",
            kind="number",
            ge=0,
            le=1,
            nullable=True,
        ),
        Option("sample_errors", False, "Whether sample applies to errors too.", kind="flag"),
        Option(
            "when",
            None,
            "A predicate on the built signal: only signals it accepts go on.",
            allowed="a function of a Signal returning a bool (in a file: its dotted name)",
        ),
        Option(
            "rate_limit",
            None,
            "Most signals per period per key, such as '100/s' (several: each applies).",
            allowed="a rate such as '100/s' or '5/min', or a list of them",
        ),
        Option(
            "limit_by",
            None,
            "The rate limit's key for a signal (default: its id).",
            allowed="a function of a Signal (in a file: its dotted name)",
        ),
        Option(
            "middleware",
            (),
            "Functions that rewrite a signal, or drop it by returning None, in the workers.",
            allowed="a list of functions of a Signal returning a Signal or None (in a file: names)",
        ),
    )


#: The keyword options of ``Telemetry(...)``.
HUB_OPTIONS: tuple[Option, ...] = (
    *_filters("info", "the hub"),
    Option(
        "location",
        True,
        "Whether signals record the file, line and function of their call.",
        kind="flag",
    ),
    Option(
        "close_timeout",
        DEFAULT_CLOSE_TIMEOUT_S,
        "Seconds aclose() waits for the queues; what is left is dropped as timeout.",
        kind="seconds",
        gt=0,
        nullable=True,
    ),
    Option(
        "opentelemetry",
        False,
        "Make aiotelemetry OpenTelemetry's tracer, logger and meter provider.",
        kind="flag",
    ),
    Option(
        "env",
        None,
        "The environment read for TELEMETRY_* and ${VAR} (default: os.environ).",
        allowed="a mapping of names to strings",
        in_file=False,
    ),
)

#: The keyword options of ``Telemetry.add_handler(...)``, and the handler options of a
#: handler's mapping in ``Telemetry(handlers=...)`` or of its table in a configuration file.
HANDLER_OPTIONS: tuple[Option, ...] = (
    Option(
        "mode",
        "backpressure",
        "What an awaited call does when the queue is full: wait, or drop a signal.",
        kind="choice",
        choices=MODES,
    ),
    Option(
        "buffer_size",
        DEFAULT_BUFFER_SIZE,
        "The queue's capacity, in signals.",
        kind="int",
        ge=1,
    ),
    Option(
        "workers",
        None,
        "Worker tasks writing to the sink; by default the sink's own number (2 for OTLP, else 1).",
        kind="int",
        ge=1,
        nullable=True,
    ),
    Option(
        "batch_size",
        DEFAULT_BATCH_SIZE,
        "Most signals a worker hands to the sink at once.",
        kind="int",
        ge=1,
    ),
    Option(
        "max_wait",
        DEFAULT_MAX_WAIT_S,
        "Longest wait for room in backpressure mode before a signal is dropped as stalled.",
        kind="seconds",
        gt=0,
        finite=True,
    ),
    Option("sync", False, "Write inline, before the call returns (debugging).", kind="flag"),
    *_filters(None, "the handler"),
    Option(
        "max_retries",
        DEFAULT_MAX_RETRIES,
        "Retries of a batch the sink failed to write before it is dropped as sink_error.",
        kind="int",
        ge=0,
    ),
    Option(
        "retry_backoff",
        DEFAULT_RETRY_BACKOFF_S,
        "Seconds before the first retry; the delay doubles with each retry.",
        kind="seconds",
        ge=0,
    ),
)

#: The hub's options by name.
HUB: dict[str, Option] = {o.name: o for o in HUB_OPTIONS}
#: A handler's options by name.
HANDLER: dict[str, Option] = {o.name: o for o in HANDLER_OPTIONS}
#: What ``Telemetry(...)`` takes by keyword (the handlers too), for the error on a misspelt one.
HUB_NAMES: tuple[str, ...] = tuple(sorted(["handlers", *HUB]))
#: What a handler takes besides its sink.
HANDLER_NAMES: tuple[str, ...] = tuple(sorted(HANDLER))
#: The filter options (the keywords of ``Filters``), the same for the hub and a handler.
FILTER_NAMES: tuple[str, ...] = tuple(o.name for o in _filters(None, "") if o.name != "middleware")


def check_handler_options(name: str, options: Iterable[Any]) -> None:
    """Refuse the first key of ``options`` that is not a handler option.

    Args:
        name: The handler's name, for the message.
        options: The keys given.

    Raises:
        ConfigError: Naming the handler, the key and the handler options, with the closest
            one ("did you mean").
    """
    for key in options:
        if key not in HANDLER:
            param = key if isinstance(key, str) else repr(key)
            raise ConfigError.unknown(param, HANDLER_NAMES, what="a handler", handler=name)


def markdown_table(options: Iterable[Option], *, file_only: bool = False) -> str:
    """A Markdown table of ``options``: name, default, what is allowed, what it does.

    Args:
        options: The options, in the order to list them.
        file_only: Leave out the options a configuration file cannot give.

    Returns:
        The table, one line per option after the header, ending with a newline.
    """
    rows = ["| option | default | allowed | what it does |", "| --- | --- | --- | --- |"]
    for o in options:
        if file_only and not o.in_file:
            continue
        default = _default_text(o.default)
        rows.append(f"| `{o.name}` | {default} | {o.allowed} | {o.doc} |")
    return "\n".join(rows) + "\n"


def _default_text(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple) and not value:
        return "none"
    if isinstance(value, Mapping):
        return f"`{dict(value)!r}`"
    return f"`{value!r}`".replace("'", '"')
