"""The schema of a configuration file, read from the signatures of the code it configures.

The hub's options are the keyword-only parameters of ``Telemetry()``, a handler's those of
``Telemetry.add_handler()``, and a sink's the parameters of its constructor: a parameter added
in code is an option of the file at once, under the same name, with nothing to keep in step.
Each parameter's annotation is translated into what a file can hold (a path is a string, a
function is a dotted name, a stream is ``"stdout"`` or ``"stderr"``), and the bounds the code
checks on numbers become msgspec constraints (``CONSTRAINTS``: the hub's and the handler's
from their declarations in ``telemetry._options``, a sink's stated again, and a test holds those
in step), so that a file's mistakes are all found before anything is built. The result, per
hub, handler and sink class, is a msgspec struct (``schema``) whose fields are the options.
"""

from __future__ import annotations

import collections.abc
import enum
import functools
import inspect
import os
import typing
import uuid
from datetime import timedelta
from types import NoneType, UnionType
from typing import Any, Literal

import msgspec

from . import _filters
from ._options import HANDLER_OPTIONS, HUB_OPTIONS, Option

__all__ = [
    "CONSTRAINTS",
    "KINDS",
    "FileOption",
    "Ref",
    "handler_options",
    "hub_options",
    "schema",
    "sink_options",
]

#: The sink kinds a file may name, and the class each stands for (imported when first named,
#: so that a kind whose optional dependencies are missing fails only where it is used).
KINDS: dict[str, str] = {
    "console": "telemetry.sinks.console:ConsoleSink",
    "file": "telemetry.sinks.file:FileSink",
    "journald": "telemetry.sinks.journald:JournaldSink",
    "memory": "telemetry.sinks.memory:MemorySink",
    "otlp": "telemetry.sinks.otlp:OTLPSink",
    "syslog": "telemetry.sinks.syslog:SyslogSink",
}


def _meta(option: Option) -> msgspec.Meta:
    """The msgspec constraint of an option's bounds (msgspec takes ``gt`` or ``ge``, not both)."""
    if option.gt is not None:
        return msgspec.Meta(gt=option.gt, le=option.le)
    return msgspec.Meta(ge=option.ge, le=option.le)


#: Bounds on numbers, by owner (``hub``, ``handler`` or a sink's class name) and option: the
#: same bounds the constructors check, so that every out-of-range number in a file is reported
#: together with the other mistakes instead of one constructor error at a time.
#: The hub's and the handler's come from their declarations (``telemetry._options``).
CONSTRAINTS: dict[str, dict[str, msgspec.Meta]] = {
    "hub": {o.name: _meta(o) for o in HUB_OPTIONS if o.bounds()},
    "handler": {o.name: _meta(o) for o in HANDLER_OPTIONS if o.bounds()},
    "FileSink": {"file_mode": msgspec.Meta(ge=0, le=0o7777), "keep": msgspec.Meta(ge=0)},
    "SyslogSink": {
        "port": msgspec.Meta(ge=1, le=65535),
        "timeout": msgspec.Meta(gt=0),
        "max_backoff": msgspec.Meta(gt=0),
    },
    "JournaldSink": {
        "max_datagram": msgspec.Meta(ge=1),
        "sndbuf": msgspec.Meta(ge=1),
        "send_timeout": msgspec.Meta(gt=0),
    },
    "MemorySink": {"maxlen": msgspec.Meta(ge=1)},
}


class Ref(enum.Enum):
    """How a string in the file stands for something a file cannot hold."""

    #: The dotted name of a function (``package.module:name``), used as it is.
    CALLABLE = "callable"
    #: The dotted name of an object, or of a function without arguments that returns one.
    OBJECT = "object"
    #: A list of middleware: dotted names, or tables ``{ use = "name", option = ... }``.
    MIDDLEWARE = "middleware"
    #: ``"stdout"`` or ``"stderr"``.
    STREAM = "stream"


class FileOption(msgspec.Struct, frozen=True, kw_only=True):
    """One option of a file: its name, the type a file gives it, and how it is read."""

    name: str
    #: A type msgspec converts to, with the constraints of ``CONSTRAINTS``.
    type: Any
    #: What is allowed, in words, for error messages.
    allowed: str
    #: How a string stands for a value a file cannot hold, or ``None`` for plain data.
    ref: Ref | None = None
    #: For ``Ref.OBJECT``: the class the named object must be an instance of.
    expects: Any = None
    #: Whether ``None`` is allowed (written ``"none"`` in TOML, which has no null).
    nullable: bool = False


_DATA = (str, int, float, bool)


def _describe(tp: Any, meta: msgspec.Meta | None = None) -> str:
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp in (int, float):
        word = "an integer" if tp is int else "a number"
        if meta is None:
            return word
        if meta.ge is not None and meta.le is not None:
            return f"{word} from {meta.ge} to {meta.le}"
        bounds = [
            f"{op} {v}"
            for op, v in ((">=", meta.ge), (">", meta.gt), ("<=", meta.le), ("<", meta.lt))
            if v is not None
        ]
        return f"{word} {' and '.join(bounds)}".strip()
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return "a list of " + _plural(typing.get_args(tp)[0])
    if origin is dict:
        value = typing.get_args(tp)[1]
        return "a table" if value is Any else "a table of " + _plural(value)
    if origin in (UnionType, typing.Union):
        parts = [_describe(a, meta) for a in typing.get_args(tp) if a is not NoneType]
        return ", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else parts[0]
    return "any value"


def _plural(tp: Any) -> str:
    """``strings`` for ``str``, ``strings or lists of strings`` for ``str | list[str]``."""
    members = typing.get_args(tp) if typing.get_origin(tp) in (UnionType, typing.Union) else (tp,)
    words = []
    for m in members:
        if m is NoneType:
            continue
        text = _describe(m)
        head, _, rest = text.partition(" of ")
        noun = head.split(" ", 1)[-1] if head.startswith(("a ", "an ")) else head
        noun = {"true or false": "booleans"}.get(noun, noun if noun.endswith("s") else noun + "s")
        words.append(f"{noun} of {rest}" if rest else noun)
    return " or ".join(words)


def _union(members: list[Any]) -> Any:
    out: Any = members[0]
    for m in members[1:]:
        out = out | m
    return out


def _plain(tp: Any) -> tuple[Any, Ref | None, Any]:
    """The msgspec type a file gives to a parameter annotated ``tp``, and how it is read."""
    if tp is Any or tp is inspect.Parameter.empty:
        return Any, None, None
    if tp in _DATA or tp is NoneType:
        return tp, None, None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return tp, None, None
    if origin in (UnionType, typing.Union):
        members = [a for a in args if a is not NoneType]
        texts = str in members
        kept = [
            m
            for m in members
            # A path is a string; so is a duration and a UUID where a string is also allowed;
            # an enum member in a union is a "not given" sentinel, which a file expresses by
            # leaving the option out.
            if typing.get_origin(m) is not os.PathLike
            and not (texts and m in (timedelta, uuid.UUID))
            and not (isinstance(m, type) and issubclass(m, enum.Enum))
        ]
        plain = [_plain(m) for m in kept]
        for ptype, ref, expects in plain:
            if ref is not None:
                return ptype, ref, expects
        return _union([p[0] for p in plain]), None, None
    if origin in (collections.abc.Iterable, collections.abc.Sequence, list, tuple):
        item = args[0] if args else Any
        if typing.get_origin(item) is collections.abc.Callable:
            return list[str | dict[str, Any]], Ref.MIDDLEWARE, None
        return list[_plain(item)[0]], None, None  # type: ignore[misc]
    if origin in (collections.abc.Mapping, dict):
        key, value = args if args else (str, Any)
        return dict[key, _plain(value)[0]], None, None  # type: ignore[misc,valid-type]
    if origin is collections.abc.Callable or tp is collections.abc.Callable:
        return str, Ref.CALLABLE, None
    if tp is typing.IO or origin is typing.IO:
        return Literal["stdout", "stderr"], Ref.STREAM, None
    return str, Ref.OBJECT, tp


def _constrain(tp: Any, meta: msgspec.Meta | None) -> Any:
    """``tp`` with ``meta`` applied to its numeric members."""
    if meta is None:
        return tp
    if tp in (int, float):
        return typing.Annotated[tp, meta]
    if typing.get_origin(tp) in (UnionType, typing.Union):
        return _union([_constrain(a, meta) for a in typing.get_args(tp)])
    return tp


def _option(owner: str, name: str, annotation: Any, default: Any = None) -> FileOption:
    ptype, ref, expects = _plain(annotation)
    nullable = annotation is NoneType or NoneType in typing.get_args(annotation)
    meta = CONSTRAINTS.get(owner, {}).get(name)
    if ref is Ref.CALLABLE:
        allowed = "the dotted name of a function (package.module:name)"
    elif ref is Ref.OBJECT:
        what = getattr(expects, "__name__", str(expects))
        allowed = f"the dotted name of a {what}, or of a function without arguments returning one"
    elif ref is Ref.MIDDLEWARE:
        allowed = "a list of dotted names of middleware, or of tables { use = name, options }"
    else:
        allowed = _describe(ptype, meta)
        # "none" is worth saying where it means something other than leaving the option out.
        if nullable and default is not None and str not in (typing.get_args(ptype) or (ptype,)):
            allowed += ', or "none"'
    ftype = _constrain(ptype, meta)
    if nullable:
        ftype = ftype | None
    return FileOption(
        name=name, type=ftype, allowed=allowed, ref=ref, expects=expects, nullable=nullable
    )


@functools.cache
def _aliases() -> dict[str, Any]:
    # The filters' type aliases are strings naming one another: evaluate them in order, so that
    # the hub's annotations that use them can be evaluated.
    ns: dict[str, Any] = {}
    for name in ("LevelLike", "MinLevel", "NameSpec", "RateSpec"):
        ns[name] = eval(getattr(_filters, name), {**vars(_filters), **ns})
    return ns


def _hints(func: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, localns=_aliases())
    except Exception:  # a user's sink with annotations we cannot evaluate: accept any value
        return {}


def _options(
    owner: str, func: Any, *, keyword_only: bool, skip: tuple[str, ...] = ()
) -> dict[str, FileOption]:
    hints = _hints(func)
    out: dict[str, FileOption] = {}
    params = list(inspect.signature(func).parameters.values())[1:]  # without self
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in skip:
            continue
        if keyword_only and p.kind is not p.KEYWORD_ONLY:
            continue
        out[p.name] = _option(owner, p.name, hints.get(p.name, Any), p.default)
    return out


_cache: dict[tuple[str, type[Any]], dict[str, FileOption]] = {}


def hub_options(hub_type: type[Any]) -> dict[str, FileOption]:
    """The options of the hub: the keyword-only parameters of ``hub_type()``, but those a file
    cannot give (``env``)."""
    key = ("hub", hub_type)
    if key not in _cache:
        skip = tuple(o.name for o in HUB_OPTIONS if not o.in_file)
        _cache[key] = _options("hub", hub_type.__init__, keyword_only=True, skip=skip)
    return _cache[key]


def handler_options(hub_type: type[Any]) -> dict[str, FileOption]:
    """The options of a handler: the keyword-only parameters of ``hub_type.add_handler``."""
    key = ("handler", hub_type)
    if key not in _cache:
        _cache[key] = _options("handler", hub_type.add_handler, keyword_only=True)
    return _cache[key]


def sink_options(sink_type: type[Any]) -> dict[str, FileOption]:
    """The options of a sink: the parameters of its constructor."""
    key = ("sink", sink_type)
    if key not in _cache:
        _cache[key] = _options(sink_type.__name__, sink_type.__init__, keyword_only=False)
    return _cache[key]


def accepts_any(sink_type: type[Any]) -> bool:
    """Whether the sink's constructor takes ``**kwargs`` (then any option name is passed on).
    A ``**unknown: Never`` catch-all, which only turns a misspelt option into a
    ``ConfigError``, takes nothing."""
    params = inspect.signature(sink_type.__init__).parameters.values()
    hints = _hints(sink_type.__init__)
    return any(
        p.kind is p.VAR_KEYWORD
        and hints.get(p.name) is not typing.Never
        and p.annotation not in ("Never", "typing.Never")
        for p in params
    )


@functools.cache
def schema(name: str, options: tuple[FileOption, ...]) -> type[msgspec.Struct]:
    """A msgspec struct whose fields are ``options``, each optional (unset: the code's default)."""
    fields = [(o.name, o.type | msgspec.UnsetType, msgspec.UNSET) for o in options]
    return msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True)
