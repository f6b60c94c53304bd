"""The lifespan that runs a hub for as long as an ASGI app: ``telemetry_lifespan``.

Public as ``telemetry.integrations.asgi.telemetry_lifespan``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from .._errors import ConfigError
from .._hub import Telemetry
from .._stats import Stats
from ..sinks._base import Sink

__all__ = ["Handlers", "Lifespan", "telemetry_lifespan"]

#: What a hub's ``handlers`` are: names to sinks, or to mappings with a sink and options.
Handlers = Mapping[str, Sink | Mapping[str, Any]]
#: A lifespan: a function of the app returning an async context manager.
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def telemetry_lifespan(
    handlers: Handlers | Callable[[], Handlers] | None = None,
    *,
    lifespan: Lifespan | None = None,
    hub: Callable[[], Telemetry] | None = None,
    logging_bridge: str | int | None = None,
    on_close: Callable[[Stats], object] | None = None,
    **options: Any,
) -> Lifespan:
    """A lifespan that runs a [`Telemetry`][telemetry.Telemetry] hub for as long as the app.

    `FastAPI(lifespan=telemetry_lifespan(handlers={...}, min_level="info"))`: at startup a hub
    is made from `handlers` and `options` and opened, becoming the default hub; at shutdown,
    when uvicorn stops on SIGTERM or SIGINT, [`aclose`][telemetry.Telemetry.aclose] is awaited,
    so every accepted signal is written before the process exits. A hub can be opened only
    once and sinks closed only once, so give `handlers` as a function returning the mapping,
    or `hub` as a function returning a hub, when the app may start more than once in a process
    (tests). With neither, the hub reads the configuration file that `TELEMETRY_CONFIG` names,
    when it is set; for a file named in code,
    `hub=lambda: Telemetry.from_file("telemetry.toml")`.

    Args:
        handlers: The hub's handlers, or a function returning them (called at each startup).
        lifespan: The app's own lifespan, run inside (its startup and shutdown can emit
            signals); the state it yields is passed on.
        hub: A function returning the hub to run, instead of `handlers` and `options`.
        logging_bridge: A level such as `"info"`: install
            [`install_logging_bridge`][telemetry.integrations.logging.install_logging_bridge]
            once the hub is open, and remove it before the hub closes.
        on_close: Receives the hub's final [`Stats`][telemetry.Stats].
        **options: The [`Telemetry`][telemetry.Telemetry] keywords.

    Returns:
        The lifespan: a function of the app returning an async context manager.

    Raises:
        ConfigError: `hub` together with `handlers` or options, or an argument of the wrong
            kind; at startup, a `hub` function that returns something else than a hub.
    """
    _check_lifespan_arguments(handlers, lifespan, hub, logging_bridge, options)
    make_hub = _hub_factory(handlers, hub, options)

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Any]:
        tel = make_hub()
        try:
            async with tel, _bridged(tel, logging_bridge):
                if lifespan is None:
                    yield None
                else:
                    async with lifespan(app) as state:
                        yield state
        finally:
            if on_close is not None and tel.state == "closed":
                on_close(tel.stats())

    return run


def _check_lifespan_arguments(
    handlers: object,
    lifespan: object,
    hub: object,
    logging_bridge: str | int | None,
    options: dict[str, Any],
) -> None:
    """The checks [`telemetry_lifespan`][telemetry.integrations.asgi.telemetry_lifespan] makes
    at once, before any startup.

    Raises:
        ConfigError: Naming the argument and what it must be.
    """
    if hub is not None and (handlers is not None or options):
        raise ConfigError("hub", "give either hub= (a factory) or handlers= and hub options")
    if hub is not None and not callable(hub):
        raise ConfigError("hub", f"must be a function returning a Telemetry, got {hub!r}")
    if lifespan is not None and not callable(lifespan):
        raise ConfigError(
            "lifespan", f"must be a lifespan function (app -> context manager), got {lifespan!r}"
        )
    if logging_bridge is not None:
        from .logging import logging_level

        logging_level(logging_bridge, "logging_bridge")


def _hub_factory(
    handlers: Handlers | Callable[[], Handlers] | None,
    hub: Callable[[], Telemetry] | None,
    options: dict[str, Any],
) -> Callable[[], Telemetry]:
    """What makes the hub at each startup: `hub()`, checked, or a hub of `handlers` (called
    first when it is a function) and `options`."""

    def make_hub() -> Telemetry:
        if hub is not None:
            made = hub()
            if not isinstance(made, Telemetry):
                raise ConfigError("hub", f"must return a telemetry.Telemetry, got {made!r}")
            return made
        spec = handlers() if callable(handlers) else handlers
        return Telemetry(spec, **options)

    return make_hub


@contextlib.asynccontextmanager
async def _bridged(tel: Telemetry, level: str | int | None) -> AsyncIterator[None]:
    """The logging bridge to `tel` at `level` while inside (nothing when `level` is None)."""
    if level is None:
        yield
        return
    from .logging import install_logging_bridge, uninstall_logging_bridge

    bridge = install_logging_bridge(level, hub=tel)
    try:
        yield
    finally:
        uninstall_logging_bridge(bridge)
