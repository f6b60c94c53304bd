"""Configuration mistakes are ConfigErrors that name the handler, the parameter and what is allowed.

Whatever the path (``Telemetry(handlers=...)``, ``add_handler(...)``, a sink's constructor),
the error says where the mistake is and what would have been right, with a "did you mean" for
a misspelt option or value, and never names a method the user did not call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from telemetry import ConfigError, Telemetry
from telemetry._options import HANDLER_NAMES
from telemetry.sinks import ConsoleSink, FileSink, JournaldSink, MemorySink, SyslogSink

Case = tuple[Callable[[], object], str | None, str, list[str]]


def _cases(tmp: Path) -> dict[str, Case]:
    """name -> (the mistake, the handler named, the parameter, texts the message must hold)."""
    memory = MemorySink
    return {
        "unknown handler option": (
            lambda: Telemetry(handlers={"file": {"sink": memory(), "bufer_size": 10}}),
            "file",
            "bufer_size",
            ["'buffer_size'", "'batch_size'", "did you mean 'buffer_size'?"],
        ),
        "unknown add_handler option": (
            lambda: Telemetry().add_handler("audit", memory(), min_levle="warn"),  # type: ignore[call-arg]
            "audit",
            "min_levle",
            ["'min_level'", "did you mean 'min_level'?"],
        ),
        "handlers as a list": (
            lambda: Telemetry(handlers=[memory()]),  # type: ignore[arg-type]
            None,
            "handlers",
            ["mapping of handler names to sinks", "got list"],
        ),
        "a path instead of a sink": (
            lambda: Telemetry(handlers={"file": "app.jsonl"}),  # type: ignore[dict-item]
            "file",
            "sink",
            ["telemetry.sinks.Sink", "'app.jsonl'"],
        ),
        "misspelt mode": (
            lambda: Telemetry(handlers={"a": {"sink": memory(), "mode": "drop"}}),
            "a",
            "mode",
            ["'backpressure'", "'sliding'", "did you mean 'dropping'?"],
        ),
        "bad buffer size": (
            lambda: Telemetry().add_handler("a", memory(), buffer_size=0),
            "a",
            "buffer_size",
            [">= 1", "got 0"],
        ),
        "bad handler level": (
            lambda: Telemetry().add_handler("a", memory(), min_level="loud"),  # type: ignore[arg-type]
            "a",
            "min_level",
            ["'info'", "'warn'", "got 'loud'"],
        ),
        "unknown hub option": (
            lambda: Telemetry(handler={"a": memory()}),  # type: ignore[call-arg]
            None,
            "handler",
            ["'handlers'", "did you mean 'handlers'?"],
        ),
        "unknown file sink option": (
            lambda: FileSink(tmp / "a.jsonl", rotate_byte="1 MB"),  # type: ignore[call-arg]
            None,
            "rotate_byte",
            ["'rotate_bytes'", "'keep'", "did you mean 'rotate_bytes'?"],
        ),
        "unknown syslog sink option": (
            lambda: SyslogSink(transprt="tcp"),  # type: ignore[call-arg]
            None,
            "transprt",
            ["'transport'", "did you mean 'transport'?"],
        ),
        "unknown journald sink option": (
            lambda: JournaldSink(identifer="app"),  # type: ignore[call-arg]
            None,
            "identifer",
            ["did you mean 'identifier'?"],
        ),
        "unknown console sink option": (
            lambda: ConsoleSink(fromat="json"),  # type: ignore[call-arg]
            None,
            "fromat",
            ["did you mean 'format'?"],
        ),
        "unknown memory sink option": (
            lambda: MemorySink(max_len=3),  # type: ignore[call-arg]
            None,
            "max_len",
            ["did you mean 'maxlen'?"],
        ),
    }


CASES = sorted(_cases(Path(".")))


@pytest.mark.parametrize("case", CASES)
def test_a_configuration_mistake_is_a_config_error_that_says_where_and_what(
    tmp_path: Path, case: str
) -> None:
    """Each mistake raises ConfigError naming the handler (when there is one), the parameter,
    and the allowed options or values, with a "did you mean" for a misspelling."""
    mistake, handler, param, texts = _cases(tmp_path)[case]
    with pytest.raises(ConfigError) as info:
        mistake()
    err = info.value
    assert (err.handler, err.param) == (handler, param)
    message = str(err)
    if handler is not None:
        assert message.startswith(f"handler {handler!r}: {param} ")
    else:
        assert message.startswith(f"{param} ")
    for text in texts:
        assert text in message
    assert "add_handler()" not in message and "__init__" not in message


def test_handler_options_are_exactly_add_handlers_keywords() -> None:
    """The options Telemetry(handlers=...) accepts in a handler's mapping are add_handler's."""
    params = inspect.signature(Telemetry.add_handler).parameters.values()
    keywords = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(HANDLER_NAMES) == keywords


def test_every_option_in_a_mapping_reaches_the_handler() -> None:
    """A handler given as a mapping gets the options it names."""
    options: dict[str, Any] = {"mode": "dropping", "buffer_size": 7, "batch_size": 3}
    hub = Telemetry(handlers={"m": {"sink": MemorySink(), **options}})
    handler = hub.handlers["m"]
    assert (handler.mode, handler.buffer_size, handler.batch_size) == ("dropping", 7, 3)
