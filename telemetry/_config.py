"""Declarative configuration: a mapping or a file (TOML, YAML, JSON) that describes a hub.

::

    min_level = "info"
    middleware = ["telemetry.redact"]

    [handlers.file]
    sink = "file"                 # a kind (file, console, syslog, journald, otlp, memory)
    path = "logs/app.jsonl"       #   or a dotted path to a Sink subclass; then, flat beside it,
    rotate_bytes = "100 MB"       #   the sink's options and the handler's options
    mode = "blocking"

[`load`][telemetry._config.load] checks the whole of it against the schema
(``telemetry._config_schema``, read from the signatures of the code), builds each sink, and runs
each handler's and the hub's options through the very constructors and ``add_handler`` that code
calls, collecting every problem on the way: one [`ConfigFileError`][telemetry.ConfigFileError] then
lists them all, each with its path in the file (``handlers.file.rotate_bytes``), what was found,
what is allowed and the closest allowed name. What it returns (a
[`LoadedConfig`][telemetry._config.LoadedConfig]) is the arguments of ``Telemetry(...)``; the hub's
``from_config`` / ``from_file`` and the ``TELEMETRY_CONFIG`` variable call it.

Strings may use ``${VAR}`` and ``${VAR:-default}`` (``$$`` is a ``$``): the environment's value
is put in before anything is checked, and an option whose value came from a variable is read
leniently (``"${WORKERS:-2}"`` is the integer 2).
"""

from __future__ import annotations

import inspect
import os
import pkgutil
import sys
import typing
from collections.abc import Mapping
from typing import Any

import msgspec

from . import _config_schema as schema
from ._config_files import expand, mask, read_file, switch
from ._config_schema import KINDS, FileOption, Ref
from ._env import read_env
from ._errors import ConfigError, ConfigFileError, Problem, did_you_mean
from ._extras import EXTRAS, install_hint
from .sinks._base import Sink

__all__ = ["ConfigFileError", "LoadedConfig", "Problem", "load", "load_file", "load_over"]

#: Keys of a handler's table that are neither the sink's options nor the handler's.
RESERVED = ("sink", "enabled")


class LoadedConfig(msgspec.Struct, kw_only=True):
    """A checked configuration: the arguments of ``Telemetry(handlers, **options)``."""

    #: The hub's keyword arguments.
    options: dict[str, Any]
    #: Each enabled handler: ``{"sink": Sink, **add_handler options}``.
    handlers: dict[str, dict[str, Any]]
    #: The configuration after ``${VAR}`` expansion, with sink kinds as class paths.
    resolved: dict[str, Any]
    #: The names of the handlers switched off with ``enabled = false``.
    disabled: list[str]
    #: Where the configuration came from.
    source: str


# -- checking -------------------------------------------------------------------------------


def _found(value: Any) -> str:
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def _resolve_name(name: str, path: str, problems: list[Problem]) -> Any:
    try:
        return pkgutil.resolve_name(name)
    except Exception as exc:
        hint = "" if ":" in name or "." in name else " (write package.module:name)"
        problems.append(Problem(path, f"names {name!r}, which cannot be imported: {exc}{hint}"))
        return None


def _requires_nothing(obj: Any) -> bool:
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params
    )


def _middleware(value: Any, path: str, problems: list[Problem]) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        options: dict[str, Any] = {}
        if callable(item):  # the middleware itself, in a mapping built in Python
            out.append(item)
            continue
        if isinstance(item, dict):
            options = dict(item)
            item = options.pop("use", None)
            if not isinstance(item, str):
                problems.append(Problem(f"{where}.use", "must name the middleware to use"))
                continue
        if not isinstance(item, str):
            problems.append(Problem(where, f"must be a dotted name or a table; got {_found(item)}"))
            continue
        obj = _resolve_name(item, where, problems)
        if obj is None:
            continue
        # A name of a function that makes a middleware (telemetry.redact) is called; a name of
        # a middleware itself (a function of one signal) is used as it is.
        if options or _requires_nothing(obj):
            try:
                obj = obj(**options)
            except Exception as exc:
                problems.append(Problem(where, f"{item}({options or ''}) failed: {exc}"))
                continue
        if not callable(obj):
            problems.append(Problem(where, f"{item!r} is not a middleware (not callable)"))
            continue
        out.append(obj)
    return out


def _value(
    opt: FileOption, owner: str, value: Any, path: str, lenient: bool, problems: list[Problem]
) -> Any:
    """The value code receives for ``opt``, or ``None`` after recording a problem."""
    if any(p.path == path for p in problems):  # a variable it needs is not set
        return None
    if opt.nullable and value == "none":
        return None
    if opt.ref in (Ref.CALLABLE, Ref.OBJECT, Ref.STREAM) and not isinstance(value, str):
        return value  # the object itself, in a mapping built in Python: code checks it
    if lenient:
        value = switch(value)
    if opt.ref is Ref.MIDDLEWARE:
        return _middleware(value, path, problems)
    struct = schema.schema(owner, (opt,))
    try:
        converted = getattr(
            msgspec.convert({opt.name: value}, struct, strict=not lenient), opt.name
        )
    except msgspec.ValidationError:
        hint = did_you_mean(value, _choices(opt)) if isinstance(value, str) else ""
        problems.append(Problem(path, f"must be {opt.allowed}; got {_found(value)}{hint}"))
        return None
    if opt.ref is Ref.STREAM:
        return sys.stdout if converted == "stdout" else None
    if opt.ref is Ref.CALLABLE and converted is not None:
        obj = _resolve_name(converted, path, problems)
        if obj is not None and not callable(obj):
            problems.append(Problem(path, f"names {converted!r}, which is not a function"))
        return obj
    if opt.ref is Ref.OBJECT and converted is not None:
        obj = _resolve_name(converted, path, problems)
        if isinstance(opt.expects, type) and obj is not None and not isinstance(obj, opt.expects):
            obj = obj() if callable(obj) else obj
        return obj
    return converted


def _choices(opt: FileOption) -> list[str]:
    out: list[str] = []
    for member in typing.get_args(opt.type) or (opt.type,):
        if typing.get_origin(member) is typing.Literal:
            out += [a for a in typing.get_args(member) if isinstance(a, str)]
    if typing.get_origin(opt.type) is typing.Literal:
        out += [a for a in typing.get_args(opt.type) if isinstance(a, str)]
    return out


def _unknown(path: str, key: str, what: str, allowed: list[str]) -> Problem:
    names = ", ".join(sorted(allowed))
    return Problem(
        f"{path}.{key}" if path else key,
        f"is not an option of {what}; allowed: {names}{did_you_mean(key, allowed)}",
    )


def _code_error(base: str, exc: ConfigError) -> Problem:
    # The path names the handler already: the message is what follows the parameter's name.
    return Problem(f"{base}.{exc.param}" if base else exc.param, exc.detail)


def _not_an_option(
    where: str,
    key: str,
    kind: object,
    sink_opts: Mapping[str, FileOption],
    handler_opts: Mapping[str, FileOption],
) -> Problem:
    groups = [("the sink's", sink_opts), ("the handler's", handler_opts)]
    allowed = "; ".join(f"{what} {', '.join(sorted(opts))}" for what, opts in groups if opts)
    what = kind if isinstance(kind, str) else type(kind).__name__
    return Problem(
        where,
        f"is not an option of a {what!r} handler; allowed: {allowed}; and {', '.join(RESERVED)}"
        f"{did_you_mean(key, [*sink_opts, *handler_opts, *RESERVED])}",
    )


def _sink_type(kind: Any, path: str, problems: list[Problem]) -> type[Any] | None:
    allowed = ", ".join(repr(k) for k in sorted(KINDS))
    if not isinstance(kind, str) or not kind:
        problems.append(
            Problem(
                path,
                f"must be a sink kind ({allowed}) or the dotted path of a Sink "
                f"subclass; got {_found(kind) if kind is not None else 'nothing'}",
            )
        )
        return None
    target = KINDS.get(kind, kind)
    if kind not in KINDS and "." not in kind and ":" not in kind:
        problems.append(
            Problem(
                path,
                f"must be one of {allowed} or the dotted path of a Sink subclass; "
                f"got {kind!r}{did_you_mean(kind, KINDS)}",
            )
        )
        return None
    try:
        found = pkgutil.resolve_name(target)
    except Exception as exc:
        extra = f" ({install_hint(kind)})" if kind in EXTRAS else ""
        problems.append(
            Problem(path, f"{kind!r} needs {target}, which cannot be imported: {exc}{extra}")
        )
        return None
    if not (isinstance(found, type) and issubclass(found, Sink)):
        problems.append(Problem(path, f"names {target}, which is not a Sink subclass"))
        return None
    return found


def _handler(name: str, table: Any, ctx: _Context) -> None:
    """Check one handler's table; build its sink and note it (or its problems) in ``ctx``."""
    path = f"handlers.{name}"
    problems = ctx.problems
    if not isinstance(table, dict):
        problems.append(Problem(path, f"must be a table with a 'sink' key; got {_found(table)}"))
        return
    before = len(problems)
    enabled = _enabled(table, path, ctx)
    # A mapping built in Python may hold a sink already made: then only handler options.
    built = table.get("sink") if isinstance(table.get("sink"), Sink) else None
    sink_type = type(built) if built else _sink_type(table.get("sink"), f"{path}.sink", problems)
    if sink_type is None and not enabled:
        del problems[before:]  # a switched-off handler of a kind not installed here is fine
        ctx.resolved[name] = {**table, "enabled": False}
        ctx.disabled.append(name)
        return
    sink_kwargs, handler_kwargs = _split_options(name, table, sink_type, built, enabled, ctx)
    unset = any(p.path.startswith(f"{path}.") for p in problems[:before])  # ${VAR}s unset
    if sink_type is None or len(problems) > before or unset:
        if unset and not enabled and len(problems) == before:
            ctx.disabled.append(name)  # switched off: its unset variables are excused (load)
        return
    _build_handler(name, sink_type, built, sink_kwargs, handler_kwargs, enabled, ctx)


def _enabled(table: dict[str, Any], path: str, ctx: _Context) -> bool:
    """A handler's ``enabled`` switch (default on); a problem when it is not a boolean."""
    if "enabled" not in table or any(p.path == f"{path}.enabled" for p in ctx.problems):
        return True
    try:
        raw = table["enabled"]
        lax = f"{path}.enabled" in ctx.lenient
        return msgspec.convert(switch(raw) if lax else raw, bool, strict=not lax)
    except msgspec.ValidationError:
        ctx.problems.append(
            Problem(f"{path}.enabled", f"must be true or false; got {_found(table['enabled'])}")
        )
        return True


def _split_options(
    name: str,
    table: dict[str, Any],
    sink_type: type[Sink] | None,
    built: Sink | None,
    enabled: bool,
    ctx: _Context,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A handler table's keys, each checked as the sink's option or the handler's; notes the
    resolved table in ``ctx``. Returns the sink's keyword arguments and the handler's."""
    path = f"handlers.{name}"
    lenient, problems = ctx.lenient, ctx.problems
    sink_opts = schema.sink_options(sink_type) if sink_type is not None and not built else {}
    handler_opts = schema.handler_options(ctx.hub_type)
    open_ended = not built and (sink_type is None or schema.accepts_any(sink_type))
    sink_kwargs: dict[str, Any] = {}
    handler_kwargs: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    if sink_type is not None:
        resolved["sink"] = f"{sink_type.__module__}:{sink_type.__qualname__}"
    for key, value in table.items():
        where = f"{path}.{key}"
        if key in RESERVED:
            if key == "enabled":
                resolved[key] = enabled
            continue
        resolved[key] = value
        if key in sink_opts or key in handler_opts:
            opt = sink_opts[key] if key in sink_opts else handler_opts[key]
            owner = "handler" if key not in sink_opts else getattr(sink_type, "__name__", "")
            kwargs = sink_kwargs if key in sink_opts else handler_kwargs
            kwargs[key] = _value(opt, owner, value, where, where in lenient, problems)
            if opt.ref is None:
                resolved[key] = kwargs[key]
        elif open_ended:
            sink_kwargs[key] = value
        else:
            problems.append(_not_an_option(where, key, table["sink"], sink_opts, handler_opts))
    ctx.resolved[name] = resolved
    return sink_kwargs, handler_kwargs


def _build_handler(
    name: str,
    sink_type: type[Sink],
    built: Sink | None,
    sink_kwargs: dict[str, Any],
    handler_kwargs: dict[str, Any],
    enabled: bool,
    ctx: _Context,
) -> None:
    """Run a checked handler table through the real sink constructor and ``add_handler`` (the
    same checks as code, across options too); note the handler, or the problem, in ``ctx``."""
    path = f"handlers.{name}"
    problems = ctx.problems
    # TELEMETRY_FORMAT overrides a console's format given in the file, as it would "auto".
    if ctx.console_format and sink_type.__name__ == "ConsoleSink" and not built:
        sink_kwargs["format"] = ctx.console_format
    try:
        sink = built or sink_type(**sink_kwargs)
    except ConfigError as exc:
        if exc.param == sink_type.__name__:  # the sink as a whole: a dependency it lacks
            if not enabled:  # switched off where its extra is missing: no problem
                ctx.disabled.append(name)
                return
            problems.append(Problem(f"{path}.sink", exc.detail))
            return
        problems.append(_code_error(path, exc))
        return
    except Exception as exc:
        problems.append(Problem(path, f"{sink_type.__name__}(...) failed: {exc!r}"))
        return
    try:
        from .sinks.memory import MemorySink

        ctx.dry_run().add_handler(name, MemorySink(), **handler_kwargs)
    except ConfigError as exc:
        problems.append(_code_error(path, exc))
        return
    if enabled:
        ctx.handlers[name] = {"sink": sink, **handler_kwargs}
    else:
        ctx.disabled.append(name)


class _Context:
    def __init__(self, hub_type: type[Any], env: Mapping[str, str], lenient: set[str]) -> None:
        self.hub_type = hub_type
        self.env = env
        self.lenient = lenient
        self.problems: list[Problem] = []
        self.handlers: dict[str, dict[str, Any]] = {}
        self.resolved: dict[str, Any] = {}
        self.disabled: list[str] = []
        self._dry: Any = None
        #: TELEMETRY_FORMAT when set (checked as the hub checks it), for the file's consoles.
        self.console_format = read_env(env).format if env.get("TELEMETRY_FORMAT") else None

    def dry_run(self) -> Any:
        """A hub that is never opened, to run each handler's options through add_handler."""
        if self._dry is None:
            self._dry = self.hub_type(env={})
        return self._dry


def load(
    config: Mapping[str, Any],
    *,
    hub_type: type[Any],
    source: str = "configuration",
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Check ``config`` and build its sinks.

    Args:
        config: The configuration: hub options, and ``handlers``.
        hub_type: The hub class whose options, and whose ``add_handler``'s, are checked.
        source: Where the configuration came from, for the error.
        env: The values of ``${VAR}`` (default ``os.environ``).

    Returns:
        The arguments of ``hub_type(handlers, **options)``, and the configuration resolved.

    Raises:
        ConfigFileError: Listing every problem, each with its path in the configuration.
        ConfigError: ``config`` is not a mapping.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []
    if not isinstance(config, Mapping):
        raise ConfigError(source, f"must be a table of options, got {type(config).__name__}")
    expanded, used, unset = expand(dict(config), env)
    # Reported first: an option whose variable is missing is not checked again as a blank.
    problems += [
        Problem(path, f"uses ${{{name}}}, which is not set (${{{name}:-default}} gives one)")
        for path, name in unset
    ]
    ctx = _Context(hub_type, env, set(used))
    ctx.problems = problems
    options, resolved = _hub_options(expanded, ctx)
    handlers = expanded.get("handlers", {})
    if isinstance(handlers, dict):
        for name, table in handlers.items():
            _handler(str(name), table, ctx)
    else:
        problems.append(Problem("handlers", f"must be a table of handlers; got {_found(handlers)}"))
    # A switched-off handler's variables may be unset (a token only the deployments that use
    # it have); its `enabled` switch must still be set.
    off = tuple(f"handlers.{name}." for name in ctx.disabled)
    excused = {p for p, _ in unset if p.startswith(off) and not p.endswith(".enabled")}
    problems[:] = [p for p in problems if p.path not in excused]
    if problems:
        raise ConfigFileError(source, problems)
    resolved["handlers"] = ctx.resolved
    return LoadedConfig(
        options=options,
        handlers=ctx.handlers,
        resolved=mask(resolved, frozenset(p for p, secret in used.items() if secret)),
        disabled=ctx.disabled,
        source=source,
    )


def _hub_options(expanded: dict[str, Any], ctx: _Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hub's options of a configuration, each checked against the schema, then all of
    them through the hub's own constructor. Returns them, and their resolved form."""
    problems = ctx.problems
    hub_opts = schema.hub_options(ctx.hub_type)
    options: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    hub_ok = True
    for key, value in expanded.items():
        if key == "handlers":
            continue
        if key not in hub_opts:
            problems.append(_unknown("", key, "the hub", [*hub_opts, "handlers"]))
            continue
        before = len(problems)
        converted = _value(hub_opts[key], "hub", value, key, key in ctx.lenient, problems)
        resolved[key] = converted if hub_opts[key].ref is None else value
        if len(problems) == before and not any(p.path == key for p in problems):
            options[key] = converted
        else:
            hub_ok = False
    if hub_ok:  # the hub's own checks, across options too
        try:
            ctx.hub_type(**options, env={})
        except ConfigError as exc:
            problems.append(_code_error("", exc))
    return options, resolved


def load_file(
    path: str | os.PathLike[str], *, hub_type: type[Any], env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """[`load`][telemetry._config.load] the mapping in a TOML, YAML or JSON file (see
    [`read_file`][telemetry._config_files.read_file]).

    Args:
        path: The file; its suffix says its format.
        hub_type: The hub class whose options, and whose ``add_handler``'s, are checked.
        env: The values of ``${VAR}`` (default ``os.environ``).

    Returns:
        The arguments of ``hub_type(handlers, **options)``, and the configuration resolved.

    Raises:
        ConfigFileError: The file cannot be read or parsed, or lists problems (each with its
            path in the configuration).
    """
    return load(read_file(path), hub_type=hub_type, source=os.fspath(path), env=env)


def load_over(
    path: str,
    hub_type: type[Any],
    env: Mapping[str, str] | None,
    given: Mapping[str, Any],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """For ``TELEMETRY_CONFIG``: the file's handlers, and the hub options of ``given`` (the
    keywords a hub was created with) with the file's over them."""
    plan = load_file(path, hub_type=hub_type, env=env)
    names = schema.hub_options(hub_type)
    return plan.handlers, {**{k: v for k, v in given.items() if k in names}, **plan.options}
