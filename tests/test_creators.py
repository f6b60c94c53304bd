"""The two doors, a hub's methods and the module-level functions, are one set of creators.

A property test drives both with the same calls (creators, levels, messages, fields, error
values, refused and wrong levels) and compares what comes out: the signals, what each call
returns and what it raises.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import telemetry
from telemetry import ConfigError, Signal, Telemetry
from telemetry.sinks import MemorySink
from telemetry.testing import capture_signals

CREATORS = (
    "signal",
    "signal_nowait",
    "log",
    "log_nowait",
    "exception",
    "exception_nowait",
    "event",
    "event_nowait",
    "error",
    "error_nowait",
    "span",
    "traced",
)

LEVELS = st.one_of(
    st.sampled_from(["trace", "debug", "info", "warn", "error", "fatal", "WARN", "nope"]),
    st.integers(min_value=-2, max_value=70),
)


def _exc_tuple() -> tuple[type[BaseException], BaseException, None]:
    return (KeyError, KeyError("k"), None)


#: Values for ``error=`` / ``exc_info=``: error information, and values that are only data.
ERROR_VALUES = st.sampled_from(
    ["exception", "tuple", "empty tuple", True, False, None, "oops", 3, ("a", "b", "c"), ["x"]]
)
VALUES = st.one_of(st.integers(), st.text(max_size=4), st.none(), st.booleans())
FIELDS = st.dictionaries(st.sampled_from(["a", "room", "n", "msg", "user"]), VALUES, max_size=3)


def _error_value(spec: object) -> object:
    """A fresh value for each door, so that both record equal (not shared) exceptions."""
    if spec == "exception":
        return ValueError("bad")
    if spec == "tuple":
        return _exc_tuple()
    if spec == "empty tuple":
        return (None, None, None)
    return spec


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], dict[str, Any], bool]:
    """A creator, its positional arguments, its keywords (as specs), and whether the call
    is made while an exception is being handled."""
    name = draw(st.sampled_from(CREATORS[:10]))
    fields = draw(FIELDS)
    errors = draw(st.dictionaries(st.sampled_from(["error", "exc_info"]), ERROR_VALUES))
    level = draw(LEVELS)
    msg = draw(st.one_of(st.none(), st.text(max_size=5), st.integers()))
    if name.startswith("signal"):
        options: dict[str, Any] = {"level": level, "data": fields}
        if "error" in errors:
            options["error"] = errors["error"]
        if draw(st.booleans()):
            options["kind"] = draw(st.sampled_from(["log", "event", "audit"]))
        return name, (msg,), options, draw(st.booleans())
    if name.startswith("log"):
        return name, (level, msg), {**fields, **errors}, draw(st.booleans())
    if name.startswith("exception"):
        return name, (msg,), {"level": level, **fields}, draw(st.booleans())
    if name.startswith("event"):
        return name, ("user.signup",), {"level": level, **fields}, False
    ident = draw(st.one_of(st.none(), st.just("payment")))
    return name, ("exception", msg), {"level": level, "id": ident, **fields}, False


def _made(spec: tuple[str, tuple[Any, ...], dict[str, Any], bool]) -> tuple[Any, ...]:
    name, args, kwargs, _ = spec
    args = tuple(_error_value(a) if a == "exception" and i == 0 else a for i, a in enumerate(args))
    kwargs = {k: _error_value(v) if k in ("error", "exc_info") else v for k, v in kwargs.items()}
    return name, args, kwargs


def _outcome(value: object) -> object:
    """What a call gave back, comparable across doors (exceptions by type and message)."""
    if isinstance(value, BaseException):
        return ("exception", type(value), str(value))
    return value


async def _drive(door: Any, spec: tuple[str, tuple[Any, ...], dict[str, Any], bool]) -> object:
    """Make the call through ``door``, from this one line for both doors (so that both
    record the same location), inside an ``except`` block when the spec says so."""
    name, args, kwargs = _made(spec)
    try:
        if spec[3]:
            try:
                raise LookupError("being handled")
            except LookupError:
                out = getattr(door, name)(*args, **kwargs)
        else:
            out = getattr(door, name)(*args, **kwargs)
        if inspect.isawaitable(out):
            out = await out
    except Exception as exc:
        return ("raised", type(exc))
    return _outcome(out)


def _comparable(sig: Signal) -> Signal:
    return msgspec.structs.replace(sig, inst=0, uid="")


def test_both_doors_make_the_same_signals() -> None:
    """Any call made through the hub and through the module-level function gives the same
    signals (all fields but time and uid), returns the same and raises the same."""
    with asyncio.Runner() as runner:
        hub = Telemetry(handlers={"memory": MemorySink()}, min_level="info")
        runner.run(hub.open())
        try:
            with capture_signals() as captured:

                @settings(max_examples=300, deadline=None)
                @given(spec=calls())
                def check(spec: tuple[str, tuple[Any, ...], dict[str, Any], bool]) -> None:
                    by_hub = runner.run(_drive(hub, spec))
                    from_hub = [_comparable(s) for s in captured.take()]
                    by_module = runner.run(_drive(telemetry, spec))
                    from_module = [_comparable(s) for s in captured.take()]
                    assert by_hub == by_module
                    assert from_hub == from_module

                check()
        finally:
            runner.run(hub.aclose())


def test_each_creator_has_one_signature_in_both_doors() -> None:
    """``telemetry.log`` and ``Telemetry.log`` (and every other creator) are one definition:
    the same code, so the same signature."""
    hub = Telemetry()
    for name in CREATORS:
        module_fn = getattr(telemetry, name)
        assert module_fn.__func__ is getattr(Telemetry, name), name
        assert inspect.signature(module_fn) == inspect.signature(getattr(hub, name)), name


@pytest.mark.parametrize("door", ["hub", "module"])
async def test_error_that_is_not_an_exception_is_data(door: str) -> None:
    """``error=`` / ``exc_info=`` with a value that is not error information is kept as data
    under its key, through either door; an exception is recorded as the signal's error."""
    async with Telemetry(handlers={"memory": MemorySink()}) as hub:
        log = hub.log if door == "hub" else telemetry.log
        with capture_signals() as captured:
            assert await log("info", "x", error="oops", exc_info="value") is True
            assert await log("info", "y", error=ValueError("bad"), exc_info=7) is True
            try:
                raise KeyError("k")
            except KeyError:
                assert await log("info", "z", exc_info=sys.exc_info(), error=None) is True
    first, second, third = captured.signals
    assert first.data == {"error": "oops", "exc_info": "value"} and first.error is None
    assert second.data == {"exc_info": 7}
    assert second.error is not None and second.error.type == "ValueError"
    assert third.data == {} and third.error is not None and third.error.type == "KeyError"


def test_a_wrong_level_is_a_config_error_in_both_doors() -> None:
    """A level that is neither a name nor a number >= 0 raises ConfigError from either door."""
    hub = Telemetry()
    for door in (hub, telemetry):
        with pytest.raises(ConfigError):
            door.log_nowait("loud", "x")
        with pytest.raises(ConfigError):
            door.event_nowait("e", level=-1)
