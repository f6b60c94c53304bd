"""Exceptions raised by aiotelemetry.

Only wrong *use* of the library raises; nothing that happens while a signal travels (a sink that
fails, an encoder that chokes, a middleware that raises) ever reaches the code that emitted it.

Every exception raised to a user is one of these, all exported by ``telemetry``. The tree:

```text
TelemetryError
├── ConfigError          a parameter or option has a value that is not allowed, or is not
│   │                    an option at all (also a ValueError)
│   └── ConfigFileError  a configuration (mapping, file, TELEMETRY_CONFIG) has problems:
│                        all of them at once, in problems
├── ClosedError          a hub, handler or sink was used after it was closed
└── SinkError            a sink could not open, write or close (raised inside the pipeline
                         and counted there; raised to the caller only by open)
```
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import msgspec

__all__ = [
    "ClosedError",
    "ConfigError",
    "ConfigFileError",
    "Problem",
    "SinkError",
    "TelemetryError",
    "check_int",
    "did_you_mean",
]


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest of ``allowed`` to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_int(param: str, value: object, minimum: int) -> int:
    """``value`` if it is an integer (not a bool) of at least ``minimum``, else the
    ConfigError for ``param``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(param, f"must be an integer >= {minimum}, got {value!r}")
    return value


class TelemetryError(Exception):
    """Root of every exception this library raises."""


class ConfigError(TelemetryError, ValueError):
    """A parameter has a value that is not allowed.

    The message names the handler (when the parameter is one of a handler's), the parameter,
    what was given and what is allowed, for example ``handler 'audit': mode must be one of
    'backpressure', 'blocking', 'dropping', 'sliding'; got 'drop'; did you mean 'dropping'?``.

    Args:
        param: The parameter at fault.
        message: What is wrong with it, after its name: ``"must be ...; got ..."``.
        handler: The name of the handler the parameter belongs to, if any.
    """

    def __init__(self, param: str, message: str, *, handler: str | None = None) -> None:
        self.param = param
        """The parameter at fault."""
        self.handler = handler
        """The name of the handler it belongs to, if any."""
        self.detail = message
        where = f"handler {handler!r}: " if handler is not None else ""
        super().__init__(f"{where}{param} {message}")

    @classmethod
    def choice(
        cls, param: str, value: object, allowed: Iterable[str], *, handler: str | None = None
    ) -> ConfigError:
        """Build the error for a value that is not one of ``allowed``.

        Args:
            param: The parameter at fault.
            value: What was given.
            allowed: The values the parameter takes (listed in the message, and the closest
                one suggested).
            handler: The name of the handler the parameter belongs to, if any.

        Returns:
            The error, to raise.
        """
        choices = sorted(allowed)
        names = ", ".join(repr(a) for a in choices)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        return cls(param, f"must be one of {names}; got {value!r}{hint}", handler=handler)

    @classmethod
    def unknown(
        cls, param: str, allowed: Iterable[str], *, what: str, handler: str | None = None
    ) -> ConfigError:
        """Build the error for an option ``param`` that ``what`` does not take.

        Args:
            param: The option given.
            allowed: The options ``what`` takes (listed, and the closest one suggested).
            what: What was given the option: a class or function name.
            handler: The name of the handler the option was given to, if any.

        Returns:
            The error, to raise.
        """
        choices = sorted(allowed)
        names = ", ".join(repr(a) for a in choices)
        hint = did_you_mean(param, choices)
        message = f"is not an option of {what}; the options are {names}{hint}"
        return cls(param, message, handler=handler)

    def for_handler(self, handler: str) -> ConfigError:
        """The same error, naming the handler it was found in.

        Args:
            handler: The handler's name.

        Returns:
            A new error naming ``handler``, or this one if it already names a handler.
        """
        if self.handler is not None:
            return self
        return ConfigError(self.param, self.detail, handler=handler)


class Problem(msgspec.Struct, frozen=True):
    """One mistake in a configuration: where it is, and what is wrong."""

    path: str
    """The path inside the configuration, such as ``handlers.file.rotate_bytes``."""
    message: str
    """What was found and what is allowed."""

    def __str__(self) -> str:
        return f"{self.path} {self.message}"


class ConfigFileError(ConfigError):
    """Every problem of a configuration at once (``Telemetry.from_config``, ``from_file``,
    ``TELEMETRY_CONFIG``), each with its path in the configuration.

    Args:
        source: Where the configuration came from (a file name, ``TELEMETRY_CONFIG``, ...);
            the error's ``param``.
        problems: Every mistake found, in the order of the configuration.
    """

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        """Every mistake found, in the order of the configuration."""
        n = len(problems)
        lines = "".join(f"\n  - {p}" for p in problems)
        super().__init__(source, f"has {n} problem{'s' if n > 1 else ''}:{lines}")


class ClosedError(TelemetryError):
    """A hub, handler or sink was used after it was closed."""


class SinkError(TelemetryError):
    """A sink could not open, write or close; ``__cause__`` holds the underlying error."""
