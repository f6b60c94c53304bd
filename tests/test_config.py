"""Declarative configuration: what a file describes is the hub code would build, every option
code accepts is in the file under its name, and every mistake is reported at once."""

from __future__ import annotations

import inspect
import json
import math
import os
import pkgutil
import re
import ssl
import sys
import tomllib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

import telemetry as tel
from telemetry import _config_schema as schema
from telemetry._config import ConfigFileError, load
from telemetry._config_files import mask
from telemetry._config_schema import CONSTRAINTS, KINDS, Ref
from telemetry._env import VARIABLES as ENV_VARIABLES
from telemetry.cli import main as cli_main
from telemetry.cli.config import TEMPLATE
from telemetry.sinks import FileSink, MemorySink, Sink, SyslogSink
from tests.conftest import needs

ROOT = Path(__file__).resolve().parents[1]


def _importable(path: str) -> type[Any] | None:
    try:
        found: type[Any] = pkgutil.resolve_name(path)
    except Exception:  # not installed here (an optional extra)
        return None
    return found


#: Every sink kind whose class imports here (otlp only with its extra).
BUILTIN = {k: cls for k, path in KINDS.items() if (cls := _importable(path)) is not None}


def problems(config: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    """The problems from_config reports for ``config``, as 'path message' lines."""
    with pytest.raises(ConfigFileError) as info:
        tel.Telemetry.from_config(config, env=env or {})
    return [str(p) for p in info.value.problems]


# -- user code named by the tests' configurations ----------------------------------------------


class ListSink(Sink):
    """A user's sink, named by its dotted path: keeps lines in a list."""

    kind = "list"

    def __init__(self, label: str, *, limit: int = 10, upper: bool = False) -> None:
        super().__init__()
        self.label, self.limit, self.upper = label, limit, upper
        self.lines: list[str] = []

    async def write(self, batch: Sequence[tel.Signal]) -> None:
        for sig in batch:
            text = f"{self.label}:{sig.msg}"
            self.lines.append(text.upper() if self.upper else text)


def only_audit(sig: tel.Signal) -> bool:
    """A ``when`` predicate named in a file."""
    return sig.id == "audit"


def add_region(sig: tel.Signal) -> tel.Signal:
    """A middleware named in a file (a function of one signal: used as it is)."""
    return msgspec.structs.replace(sig, data={**sig.data, "region": "eu"})


def fixed_clock() -> float:
    """A clock named in a file."""
    return 1_700_000_000.0


def make_context() -> ssl.SSLContext:
    """A function without arguments that makes the SSL context a file names."""
    return ssl.create_default_context()


# -- the schema is the code's signatures --------------------------------------------------------


def params(func: Any, *, keyword_only: bool) -> set[str]:
    out = set()
    for p in list(inspect.signature(func).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if not keyword_only or p.kind is p.KEYWORD_ONLY:
            out.add(p.name)
    return out


@pytest.mark.parametrize("kind", sorted(BUILTIN))
def test_each_sink_option_is_a_parameter_of_its_constructor(kind: str) -> None:
    """A sink's options in a file are exactly its constructor's parameters, in its schema."""
    cls = BUILTIN[kind]
    options = schema.sink_options(cls)
    assert set(options) == params(cls.__init__, keyword_only=False)
    struct = schema.schema(cls.__name__, tuple(options.values()))
    assert set(struct.__struct_fields__) == set(options)
    assert KINDS[kind] == f"{cls.__module__}:{cls.__name__}"


def test_hub_and_handler_options_are_the_keywords_of_telemetry_and_add_handler() -> None:
    """Hub options are Telemetry()'s keywords (env aside); handler options add_handler()'s."""
    assert set(schema.hub_options(tel.Telemetry)) == (
        params(tel.Telemetry.__init__, keyword_only=True) - {"env"}
    )
    assert set(schema.handler_options(tel.Telemetry)) == params(
        tel.Telemetry.add_handler, keyword_only=True
    )


def test_sink_and_handler_options_never_share_a_name() -> None:
    """Flat tables work only if no sink option is also a handler option or a reserved key."""
    handler = set(schema.handler_options(tel.Telemetry)) | {"sink", "enabled"}
    for cls in BUILTIN.values():
        assert not set(schema.sink_options(cls)) & handler, cls


def test_every_option_of_code_has_a_type_a_file_can_hold() -> None:
    """No option falls back to 'any value': each is checked, or read as a name or a stream."""
    owners = [schema.hub_options(tel.Telemetry), schema.handler_options(tel.Telemetry)]
    owners += [schema.sink_options(cls) for cls in BUILTIN.values()]
    for options in owners:
        for opt in options.values():
            assert opt.ref is not None or opt.allowed != "any value", opt


def _steps(tp: Any) -> bool:
    """Whether the constrained type is integral."""
    members = typing.get_args(tp) or (tp,)
    return any(typing.get_args(m)[:1] == (int,) for m in members)


def _build(owner: str, name: str, value: Any, tmp_path: Path) -> None:
    if owner == "hub":
        tel.Telemetry(**{name: value}, env={})
    elif owner == "handler":
        tel.Telemetry(env={}).add_handler("h", MemorySink(), **{name: value})
    elif owner == "FileSink":
        FileSink(tmp_path / "a.jsonl", rotate_bytes="1 MB", **{name: value})
    elif owner == "SyslogSink":
        SyslogSink(transport="udp", **{name: value})
    else:
        BUILTIN[owner.removesuffix("Sink").lower()](**{name: value})


def _bounds() -> list[tuple[str, str]]:
    return [(owner, name) for owner, table in CONSTRAINTS.items() for name in table]


@pytest.mark.parametrize(("owner", "name"), _bounds(), ids=lambda x: str(x))
def test_each_bound_in_the_schema_is_the_bound_code_checks(
    owner: str, name: str, tmp_path: Path
) -> None:
    """At each bound, the schema and the constructor accept and refuse the same values."""
    options = (
        schema.hub_options(tel.Telemetry)
        if owner == "hub"
        else schema.handler_options(tel.Telemetry)
        if owner == "handler"
        else schema.sink_options(BUILTIN[owner.removesuffix("Sink").lower()])
    )
    opt = options[name]
    meta = CONSTRAINTS[owner][name]
    step = 1 if _steps(opt.type) else 0.001
    cases: list[tuple[Any, bool]] = []
    if meta.ge is not None:
        cases += [(meta.ge, True), (meta.ge - step, False)]
    if meta.gt is not None:
        cases += [(meta.gt, False), (meta.gt + step, True)]
    if meta.le is not None:
        cases += [(meta.le, True), (meta.le + step, False)]
    struct = schema.schema(owner, (opt,))
    for value, ok in cases:
        try:
            msgspec.convert({name: value}, struct)
            in_schema = True
        except msgspec.ValidationError:
            in_schema = False
        try:
            _build(owner, name, value, tmp_path)
            in_code = True
        except tel.ConfigError:
            in_code = False
        assert (in_schema, in_code) == (ok, ok), (owner, name, value)


# -- a file builds the hub code builds ----------------------------------------------------------


def describe(hub: tel.Telemetry, base: Path | None = None) -> dict[str, Any]:
    """What a hub is made of: its filters, middleware, and each handler's sink and options."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value.relative_to(base)) if base is not None else str(value)
        if isinstance(value, (str, int, float, bool, type(None))):
            return value
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        text = repr(value)
        return type(value).__name__ if " at 0x" in text else text

    namespaces = ("app", "app.db", "sqlalchemy.engine", None)
    out: dict[str, Any] = {
        "levels": [hub._filters.levels.level_for(ns) for ns in namespaces],
        "middleware": [getattr(m, "__qualname__", "") for m in hub._middleware],
        "location": hub.location,
        "close_timeout": hub.close_timeout,
    }
    for name, h in hub.handlers.items():
        sink = {k: plain(v) for k, v in vars(h.sink).items() if not k.startswith("_")}
        sink.pop("counters")
        out[name] = {
            "sink": type(h.sink).__name__,
            "sink_options": sink,
            "handler": [
                h.mode,
                h.buffer_size,
                h.workers,
                h.batch_size,
                h.max_wait,
                h.sync,
                h.max_retries,
                h.retry_backoff,
            ],
            "levels": None
            if h.filters is None
            else [h.filters.levels.level_for(ns) for ns in namespaces],
        }
    return out


def shape(stats: tel.Stats) -> dict[str, Any]:
    """The stats without what depends on timing (latency, batches, peaks, thread writes)."""
    keep = (
        "sink",
        "mode",
        "state",
        "emitted",
        "processed",
        "written",
        "dropped",
        "filtered",
        "queued",
        "buffer_size",
        "errors",
        "middleware_errors",
        "retries",
    )
    return {
        "state": stats.state,
        "emitted": stats.emitted,
        "refused": stats.refused,
        "handlers": {
            n: {k: getattr(h, k) for k in keep} for n, h in sorted(stats.handlers.items())
        },
    }


async def run(hub: tel.Telemetry) -> tel.Stats:
    async with hub:
        for ns in ("app", "sqlalchemy.engine"):
            for level in ("debug", "info", "warn", "error"):
                await hub.signal(f"{level} in {ns}", level=level, ns=ns, data={"password": "pw"})
        await hub.event("audit", level="info", user="ann", token="t0k")
    return await hub.aclose()


def doc_example() -> tuple[str, str]:
    """The configuration page's example file and the same hub in Python."""
    from tests.test_docs import blocks

    page = ROOT / "docs" / "configuration.md"
    found = blocks(page)
    toml = next(b.body for b in found if b.lang == "toml" and b.body.startswith("# telemetry."))
    code = next(b.body for b in found if b.lang == "python" and "def make_hub" in b.body)
    return toml, code


def build_both(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, ...]:
    needs("fastapi", "httpx", "opentelemetry.proto")  # the page's app, and its OTLP handler
    from fastapi import FastAPI

    from telemetry.integrations.asgi import telemetry_lifespan

    toml, code = doc_example()
    namespace: dict[str, Any] = {"FastAPI": FastAPI, "telemetry_lifespan": telemetry_lifespan}
    exec(compile(code, "configuration.md", "exec"), namespace)
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "code"))
    in_code = namespace["make_hub"]()
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "file"))
    from_file = tel.Telemetry.from_config(tomllib.loads(toml), source="configuration.md")
    return in_code, from_file


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LOG_LEVEL", "CONSOLE_FORMAT", "OTLP_ENABLED", "OTLP_ENDPOINT", "OTLP_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    for var in ENV_VARIABLES:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("quiet_env")
async def test_the_documented_example_builds_the_hub_its_python_twin_builds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The configuration page's file and its Python make the same hub, which writes the same."""
    in_code, from_file = build_both(monkeypatch, tmp_path)
    assert list(from_file.handlers) == ["file", "console"]  # no OTLP outside production
    assert describe(from_file, tmp_path / "file") == describe(in_code, tmp_path / "code")
    file_stats, code_stats = await run(from_file), await run(in_code)
    assert shape(file_stats) == shape(code_stats)
    # info and up in app (3), warn and up in sqlalchemy (2), the audit event (1)
    assert file_stats.handlers["file"].written == 6
    lines = {
        d: [json.loads(x) for x in (tmp_path / d / "app.jsonl").read_text().splitlines()]
        for d in ("file", "code")
    }
    assert [(s.get("msg"), s.get("id"), s.get("data")) for s in lines["file"]] == [
        (s.get("msg"), s.get("id"), s.get("data")) for s in lines["code"]
    ]
    assert {s["data"]["password"] for s in lines["file"] if "password" in s["data"]} == {
        "[REDACTED]"
    }


@pytest.mark.usefixtures("quiet_env")
def test_the_documented_example_in_production_adds_otlp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With OTLP_ENABLED=1 both add the same OTLP handler, its token from the environment."""
    monkeypatch.setenv("OTLP_ENABLED", "1")
    monkeypatch.setenv("OTLP_TOKEN", "s3cret")
    in_code, from_file = build_both(monkeypatch, tmp_path)
    assert list(from_file.handlers) == ["file", "console", "otlp"]
    assert describe(from_file, tmp_path / "file") == describe(in_code, tmp_path / "code")


def test_an_otlp_handler_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Naming the otlp kind where its extra is not installed (httpx cannot be imported) is one
    clear problem, at the handler's sink."""
    monkeypatch.setitem(sys.modules, "httpx", None)  # what an environment without it sees
    [line] = problems({"handlers": {"export": {"sink": "otlp", "endpoint": "http://x"}}})
    assert line.startswith("handlers.export.sink needs httpx")
    assert "aiotelemetry[otlp]" in line
    # Switched off, it is no problem where the extra is missing.
    hub = tel.Telemetry.from_config(
        {"handlers": {"export": {"sink": "otlp", "enabled": False}}}, env={}
    )
    assert not hub.handlers


# -- mistakes -----------------------------------------------------------------------------------

FIVE_MISTAKES = """\
min_levle = "debug"

[handlers.file]
sink = "file"
path = "logs/app.jsonl"
rotate_byte = "100 MB"
mode = "block"

[handlers.console]
sink = "consol"

[handlers.syslog]
sink = "syslog"
transport = "udp"
port = "514"
"""


def test_five_mistakes_are_five_problems_in_one_error(tmp_path: Path) -> None:
    """Every mistake of a file, in one ConfigError naming the file, each path, what was found,
    what is allowed and the closest name."""
    path = tmp_path / "mistakes.toml"
    path.write_text(FIVE_MISTAKES)
    with pytest.raises(tel.ConfigError) as info:
        tel.Telemetry.from_file(path, env={})
    exc = info.value
    assert isinstance(exc, ConfigFileError)
    assert str(exc).startswith(f"{path} has 5 problems:")
    assert [p.path for p in exc.problems] == [
        "min_levle",
        "handlers.file.rotate_byte",
        "handlers.file.mode",
        "handlers.console.sink",
        "handlers.syslog.port",
    ]
    by_path = {p.path: p.message for p in exc.problems}
    assert by_path["min_levle"].endswith("did you mean 'min_level'?")
    assert "allowed: the sink's clock, compress" in by_path["handlers.file.rotate_byte"]
    assert by_path["handlers.file.rotate_byte"].endswith("did you mean 'rotate_bytes'?")
    assert "got 'block'" in by_path["handlers.file.mode"]
    assert by_path["handlers.file.mode"].endswith("did you mean 'blocking'?")
    assert by_path["handlers.console.sink"].endswith("did you mean 'console'?")
    assert by_path["handlers.syslog.port"] == (
        "must be an integer from 1 to 65535; got '514' (a string)"
    )
    # The docs show this very message.
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert str(exc).replace(str(path), "mistakes.toml") in page


def test_a_mistake_only_the_constructor_sees_is_reported_at_its_path() -> None:
    """Checks across options (compress without rotation) come from the sink's constructor."""
    [line] = problems({"handlers": {"f": {"sink": "file", "path": "a.jsonl", "compress": "gzip"}}})
    assert line.startswith("handlers.f.compress needs rotate_bytes or rotate_every")


def test_code_checks_on_the_hub_and_handlers_are_reported_with_the_others() -> None:
    """add_handler's and Telemetry()'s own checks run on the file's values, all of them."""
    found = problems(
        {
            "rate_limit": "lots",
            "handlers": {
                "a": {"sink": "memory", "min_level": "loud"},
                "b": {"sink": "memory", "maxlen": 0, "workers": 1.5},
            },
        }
    )
    assert found[0].startswith("rate_limit must look like '10/s'")
    assert found[1].startswith("handlers.a.min_level must be one of")
    assert found[2] == "handlers.b.maxlen must be an integer >= 1; got 0 (an integer)"
    assert found[3] == "handlers.b.workers must be an integer >= 1; got 1.5 (a number)"


def test_shapes_that_are_not_tables_are_problems_too() -> None:
    """A handler that is not a table, a missing sink, handlers that are a list."""
    assert problems({"handlers": {"a": "file", "b": {"path": "x"}}}) == [
        "handlers.a must be a table with a 'sink' key; got 'file' (a string)",
        "handlers.b.sink must be a sink kind ('console', 'file', 'journald', 'memory', 'otlp', "
        "'syslog') or the dotted path of a Sink subclass; got nothing",
    ]
    assert problems({"handlers": ["file"]}) == [
        "handlers must be a table of handlers; got ['file'] (a list)"
    ]


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    """A bad suffix, a missing file and a syntax error are each a ConfigError naming the file."""
    with pytest.raises(tel.ConfigError, match="suffix must be one of"):
        tel.Telemetry.from_file(tmp_path / "t.ini")
    with pytest.raises(tel.ConfigError, match="cannot be read"):
        tel.Telemetry.from_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("min_level = \n")
    with pytest.raises(tel.ConfigError, match=r"bad.toml is not valid TOML"):
        tel.Telemetry.from_file(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    with pytest.raises(tel.ConfigError, match="must hold a table of options, got list"):
        tel.Telemetry.from_file(listed)


# -- what a file can say ------------------------------------------------------------------------


async def test_yaml_json_and_toml_describe_the_same_hub(tmp_path: Path) -> None:
    """The three formats are read into the same configuration."""
    needs("yaml")
    config = {
        "min_level": {"*": "info", "app.db.*": "warn"},
        "handlers": {"m": {"sink": "memory", "maxlen": 5, "mode": "dropping", "workers": 2}},
    }
    (tmp_path / "c.json").write_text(json.dumps(config))
    (tmp_path / "c.yaml").write_text(
        "min_level: {'*': info, app.db.*: warn}\n"
        "handlers:\n  m: {sink: memory, maxlen: 5, mode: dropping, workers: 2}\n"
    )
    (tmp_path / "c.toml").write_text(
        'min_level = { "*" = "info", "app.db.*" = "warn" }\n'
        '[handlers.m]\nsink = "memory"\nmaxlen = 5\nmode = "dropping"\nworkers = 2\n'
    )
    hubs = [tel.Telemetry.from_file(tmp_path / f"c.{x}", env={}) for x in ("json", "yaml", "toml")]
    assert len({json.dumps(describe(h)) for h in hubs}) == 1
    assert describe(hubs[0]) == describe(tel.Telemetry.from_config(config, env={}))
    h = hubs[0].handlers["m"]
    assert (h.mode, h.workers, h.sink.maxlen) == ("dropping", 2, 5)  # type: ignore[attr-defined]


def test_environment_variables_are_put_into_strings() -> None:
    """${VAR}, ${VAR:-default} and $$; a value from a variable is read leniently."""
    env = {"DIR": "/var/log/app", "WORKERS": "3", "SYNC": "yes"}
    hub = tel.Telemetry.from_config(
        {
            "handlers": {
                "f": {
                    "sink": "file",
                    "path": "${DIR}/$$x-${NAME:-app}.jsonl",
                    "workers": "${WORKERS}",
                    "buffer_size": "${BUFFER:-64}",
                    "sync": "${SYNC}",
                }
            }
        },
        env=env,
    )
    h = hub.handlers["f"]
    assert str(h.sink.path) == "/var/log/app/$x-app.jsonl"  # type: ignore[attr-defined]
    assert (h.workers, h.buffer_size, h.sync) == (3, 64, True)


def test_an_unset_variable_without_default_is_a_problem_and_literals_stay_strict() -> None:
    """${MISSING} is reported; a literal "3" for an integer is not quietly converted."""
    found = problems({"handlers": {"f": {"sink": "memory", "maxlen": "${N}", "workers": "3"}}})
    assert found == [
        "handlers.f.maxlen uses ${N}, which is not set (${N:-default} gives one)",
        "handlers.f.workers must be an integer >= 1; got '3' (a string)",
    ]


def test_a_switched_off_handler_is_checked_but_not_built() -> None:
    """enabled = false (here from the environment) leaves the handler out."""
    config = {"handlers": {"m": {"sink": "memory", "enabled": "${ON:-off}"}}}
    assert not tel.Telemetry.from_config(config, env={}).handlers
    assert list(tel.Telemetry.from_config(config, env={"ON": "1"}).handlers) == ["m"]
    bad = {"handlers": {"m": {"sink": "memory", "enabled": False, "maxlen": -1}}}
    assert problems(bad) == ["handlers.m.maxlen must be an integer >= 1; got -1 (an integer)"]


async def test_names_stand_for_functions_middleware_and_objects(tmp_path: Path) -> None:
    """Dotted names: a predicate, middleware (as is, made, made with options), a clock, an
    SSL context from a function; a stream by name."""
    hub = tel.Telemetry.from_config(
        {
            "middleware": [
                "tests.test_config:add_region",
                "telemetry.redact",
                {"use": "telemetry.redact", "keys": ["user"], "replacement": "?"},
            ],
            "handlers": {
                "audit": {"sink": "memory", "when": "tests.test_config:only_audit"},
                "file": {
                    "sink": "file",
                    "path": str(tmp_path / "{time}.jsonl"),
                    "clock": "tests.test_config:fixed_clock",
                    "utc": True,
                },
                "out": {"sink": "console", "stream": "stdout", "format": "json"},
                "tls": {
                    "sink": "syslog",
                    "transport": "tcp",
                    "ssl_context": "tests.test_config:make_context",
                    "max_message_size": "none",
                    "enabled": False,
                },
            },
        },
        env={},
    )
    assert hub.handlers["out"].sink.stream is sys.stdout  # type: ignore[attr-defined]
    assert hub.handlers["file"].sink.path.name.startswith("20231114_221320")  # type: ignore[attr-defined]
    async with hub:
        await hub.event("audit", user="ann", token="t")
        await hub.event("other")
    [sig] = hub.handlers["audit"].sink.signals  # type: ignore[attr-defined]
    assert sig.data == {"user": "?", "token": "[REDACTED]", "region": "eu"}


def test_a_name_that_cannot_be_imported_or_is_not_a_function_is_a_problem() -> None:
    """Names are checked when the file is read, not when the first signal arrives."""
    found = problems(
        {
            "when": "tests.test_config:nope",
            "limit_by": "tests.test_config:BUILTIN",
            "middleware": ["nomodule_here"],
        }
    )
    assert found[0].startswith("when names 'tests.test_config:nope', which cannot be imported")
    assert found[1] == "limit_by names 'tests.test_config:BUILTIN', which is not a function"
    assert found[2].startswith("middleware[0] names 'nomodule_here', which cannot be imported")


async def test_a_users_sink_is_named_by_its_path_and_its_options_are_its_parameters() -> None:
    """A Sink subclass by dotted path: its constructor's parameters, typed and suggested."""
    config = {
        "handlers": {"l": {"sink": "tests.test_config:ListSink", "label": "x", "upper": True}}
    }
    hub = tel.Telemetry.from_config(config, env={})
    async with hub:
        await hub.log("info", "hi")
    assert hub.handlers["l"].sink.lines == ["X:HI"]  # type: ignore[attr-defined]
    found = problems(
        {"handlers": {"l": {"sink": "tests.test_config:ListSink", "label": 1, "limt": 3}}}
    )
    assert found[0] == "handlers.l.label must be a string; got 1 (an integer)"
    assert found[1].startswith("handlers.l.limt is not an option of a 'tests.test_config:")
    assert found[1].endswith("did you mean 'limit'?")
    assert problems({"handlers": {"l": {"sink": "tests.test_config:only_audit"}}}) == [
        "handlers.l.sink names tests.test_config:only_audit, which is not a Sink subclass"
    ]


# -- TELEMETRY_CONFIG and the environment -------------------------------------------------------


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "telemetry.toml"
    path.write_text(text)
    return str(path)


def test_a_hub_without_handlers_reads_telemetry_config(tmp_path: Path) -> None:
    """TELEMETRY_CONFIG: the file's handlers; its options over code's; code's where it is
    silent; a hub given handlers ignores it."""
    path = write(tmp_path, 'min_level = "warn"\n[handlers.m]\nsink = "memory"\n')
    env = {"TELEMETRY_CONFIG": path}
    hub = tel.Telemetry(min_level="debug", location=False, env=env)
    assert list(hub.handlers) == ["m"]
    assert hub.min_level == tel.Level.WARN.value
    assert hub.location is False
    given = tel.Telemetry({"own": MemorySink()}, env=env)
    assert list(given.handlers) == ["own"]


def test_the_other_variables_override_the_file(tmp_path: Path) -> None:
    """TELEMETRY_MIN_LEVEL, TELEMETRY_SYNC and TELEMETRY_FORMAT win over the file."""
    path = write(
        tmp_path,
        'min_level = { "*" = "warn", "app.*" = "error" }\n'
        '[handlers.c]\nsink = "console"\nformat = "text"\nsync = false\n',
    )
    env = {
        "TELEMETRY_CONFIG": path,
        "TELEMETRY_MIN_LEVEL": "debug",
        "TELEMETRY_SYNC": "1",
        "TELEMETRY_FORMAT": "json",
    }
    hub = tel.Telemetry(env=env)
    assert hub._filters.levels.level_for("other") == tel.Level.DEBUG.value
    assert hub._filters.levels.level_for("app.db") == tel.Level.ERROR.value
    handler = hub.handlers["c"]
    assert handler.sync is True
    assert handler.sink.format_name == "json"  # type: ignore[attr-defined]


def test_a_broken_telemetry_config_fails_the_hub_at_once(tmp_path: Path) -> None:
    """A mistake in the file named by TELEMETRY_CONFIG is raised by Telemetry()."""
    path = write(tmp_path, '[handlers.m]\nsink = "memroy"\n')
    with pytest.raises(tel.ConfigError, match=r"did you mean 'memory'\?"):
        tel.Telemetry(env={"TELEMETRY_CONFIG": path})


async def test_a_fastapi_service_under_uvicorn_takes_its_hub_from_telemetry_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """telemetry_lifespan() with no handlers runs the hub TELEMETRY_CONFIG describes, served
    by uvicorn: requests are written to the file the configuration names."""
    needs("fastapi", "httpx", "uvicorn")
    import httpx
    from fastapi import FastAPI

    from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan
    from tests.integrations.servers import serve

    log = tmp_path / "app.jsonl"
    config = f'min_level = "info"\n[handlers.f]\nsink = "file"\npath = "{log}"\nmode = "blocking"\n'
    monkeypatch.setenv("TELEMETRY_CONFIG", write(tmp_path, config))
    finals: list[tel.Stats] = []
    api = FastAPI(lifespan=telemetry_lifespan(on_close=finals.append))

    @api.get("/hello")
    async def hello() -> dict[str, bool]:
        await tel.log("info", "hello")
        await tel.log("debug", "below the file's level")
        return {"ok": True}

    async with (
        serve(TelemetryMiddleware(api), lifespan="on") as addr,
        httpx.AsyncClient() as client,
    ):
        response = await client.get(f"http://{addr}/hello")
    assert response.status_code == 200
    [stats] = finals
    assert (list(stats.handlers), stats.handlers["f"].mode) == (["f"], "blocking")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(s["kind"], s.get("msg"), s.get("id")) for s in lines] == [
        ("log", "hello", None),
        ("span", None, "http.request"),
    ]
    assert stats.handlers["f"].written == 2


# -- the command line ---------------------------------------------------------------------------


def test_init_writes_a_file_that_checks_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """init writes the commented template, refuses to overwrite it, and it loads as it is."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOG_DIR", raising=False)
    assert cli_main(["init"]) == 0
    assert Path("telemetry.toml").read_text() == TEMPLATE
    assert cli_main(["init"]) == 1
    assert "exists; give --force" in capsys.readouterr().err
    assert cli_main(["init", "--force"]) == 0
    assert cli_main(["check-config", "telemetry.toml"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["handlers"]["file"]["sink"] == "telemetry.sinks.file:FileSink"
    assert out["handlers"]["file"]["path"] == "logs/app.jsonl"
    assert cli_main(["init", "-"]) == 0
    assert capsys.readouterr().out == TEMPLATE


def test_check_config_masks_secrets_and_lists_every_mistake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resolved and masked on success (exit 0); every problem on stderr, exit 1, otherwise."""
    monkeypatch.setenv("APP_SECRET", "hunter2")
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "handlers": {
                    "l": {
                        "sink": "tests.test_config:ListSink",
                        "label": "${APP_SECRET}",
                        "limit": "${LIMIT:-4}",
                    }
                },
                "middleware": [{"use": "telemetry.redact", "keys": ["pin"], "password": "x"}],
            }
        )
    )
    assert cli_main(["check-config", str(path)]) == 1  # redact() has no 'password'
    assert "middleware[0] telemetry.redact(" in capsys.readouterr().err
    path.write_text(path.read_text().replace(', "password": "x"', ""))
    assert cli_main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["handlers"]["l"] == {
        "sink": "tests.test_config:ListSink",
        "label": "***",  # from a variable whose name says secret
        "limit": 4,
    }
    assert "hunter2" not in captured.out
    assert "ok; handlers: l" in captured.err
    bad = tmp_path / "mistakes.toml"
    bad.write_text(FIVE_MISTAKES)
    assert cli_main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "has 5 problems:" in err and err.count("\n  - ") == 5


def test_mask_hides_headers_and_secret_keys() -> None:
    """Values of headers tables and of keys that name secrets are masked, at any depth."""
    resolved = {
        "handlers": {
            "o": {
                "endpoint": "http://collector:4318",
                "headers": {"authorization": "Bearer abc", "x-tenant": "t1"},
                "api_key": "k",
                "keep": 5,
            }
        }
    }
    assert mask(resolved) == {
        "handlers": {
            "o": {
                "endpoint": "http://collector:4318",
                "headers": {"authorization": "***", "x-tenant": "***"},
                "api_key": "***",
                "keep": 5,
            }
        }
    }


def test_load_returns_the_arguments_of_telemetry() -> None:
    """The plan is Telemetry(handlers, **options): nothing else is needed to build the hub."""
    plan = load(
        {"sample": 0.5, "handlers": {"m": {"sink": "memory", "mode": "sliding"}}},
        hub_type=tel.Telemetry,
        env={},
    )
    assert plan.options == {"sample": 0.5}
    assert set(plan.handlers["m"]) == {"sink", "mode"}
    assert isinstance(plan.handlers["m"]["sink"], MemorySink)
    assert math.isclose(tel.Telemetry(plan.handlers, **plan.options)._filters.sample or 0, 0.5)
    assert Ref.CALLABLE is schema.hub_options(tel.Telemetry)["when"].ref
    assert os.fspath(plan.source) == "configuration"


def test_an_option_missing_its_variable_is_one_problem_and_nothing_is_built() -> None:
    """An unset variable is reported once; the hub and the sink are not tried with a blank."""
    assert problems(
        {"min_level": "${LEVEL}", "handlers": {"f": {"sink": "file", "path": "${DIR}/a.jsonl"}}}
    ) == [
        "min_level uses ${LEVEL}, which is not set (${LEVEL:-default} gives one)",
        "handlers.f.path uses ${DIR}, which is not set (${DIR:-default} gives one)",
    ]


def test_the_stderr_fallback_never_reads_telemetry_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before any hub is open, module-level calls go to stderr only, whatever the file says."""
    from telemetry import _fallback

    monkeypatch.setenv("TELEMETRY_CONFIG", write(tmp_path, '[handlers.m]\nsink = "memroy"\n'))
    monkeypatch.setattr(_fallback, "_fallback", None)
    hub = _fallback.fallback_hub()
    assert list(hub.handlers) == ["stderr"]


class LooseSink(Sink):
    """A user's sink without annotations: any value is passed on for the sink to judge."""

    def __init__(self, where, level=1):  # type: ignore[no-untyped-def]
        super().__init__()
        if not isinstance(level, int):
            raise tel.ConfigError("level", f"must be an integer, got {level!r}")
        self.where, self.level = where, level

    async def write(self, batch: Sequence[tel.Signal]) -> None:
        pass


def test_a_sink_without_annotations_takes_any_value_and_judges_it_itself() -> None:
    """No annotations: values pass the schema; the constructor's ConfigError is reported."""
    hub = tel.Telemetry.from_config(
        {"handlers": {"l": {"sink": "tests.test_config:LooseSink", "where": [1, 2]}}}, env={}
    )
    assert hub.handlers["l"].sink.where == [1, 2]  # type: ignore[attr-defined]
    assert problems(
        {"handlers": {"l": {"sink": "tests.test_config:LooseSink", "where": 1, "level": "x"}}}
    ) == ["handlers.l.level must be an integer, got 'x'"]


async def test_a_mapping_built_in_python_may_hold_the_objects_themselves() -> None:
    """from_config takes a sink, a function, middleware and a stream as objects too."""
    memory = MemorySink()
    hub = tel.Telemetry.from_config(
        {
            "middleware": [add_region],
            "handlers": {
                "m": {"sink": memory, "when": only_audit, "mode": "sliding"},
                "c": {"sink": "console", "stream": sys.stderr, "format": "json"},
            },
        },
        env={},
    )
    assert hub.handlers["m"].sink is memory and hub.handlers["m"].mode == "sliding"
    async with hub:
        await hub.event("audit")
        await hub.event("other")
    assert [s.data for s in memory.signals] == [{"region": "eu"}]
    assert problems({"handlers": {"m": {"sink": MemorySink(), "maxlen": 3}}})[0].startswith(
        "handlers.m.maxlen is not an option of a 'MemorySink' handler; allowed: the handler's"
    )


def test_the_configuration_page_lists_every_option_of_the_code() -> None:
    """The page's lists of hub, handler and sink options are the code's, in its order."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    section = text.split("## What a file holds", 1)[1].split("\n## ", 1)[0]
    # The options tables are generated from the declarations (tests/test_options.py).
    for which, options in (
        ("hub", schema.hub_options(tel.Telemetry)),
        ("handler", schema.handler_options(tel.Telemetry)),
    ):
        table = section.split(f"<!-- options:{which} -->", 1)[1].split("<!-- /options -->")[0]
        assert re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE) == list(options), which
    kinds = section.split("| kind | class | options |", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| (.*) \|$", kinds, re.MULTILINE))
    assert set(rows) == set(KINDS)
    for kind, cls in BUILTIN.items():
        if kind != "otlp":
            assert re.findall(r"`(\w+)`", rows[kind]) == list(schema.sink_options(cls)), kind


def test_the_templates_otlp_block_uncommented_checks_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """init's OTLP block, uncommented, checks clean with no OTLP_* variable set (switched off)
    and switched on without a token: the token's variable has an empty default."""
    for var in ("LOG_DIR", "LOG_LEVEL", "OTLP_ENABLED", "OTLP_ENDPOINT", "OTLP_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    block = TEMPLATE.split("# [handlers.otlp]", 1)[1]
    uncommented = "[handlers.otlp]" + "\n".join(
        line.removeprefix("# ") for line in block.splitlines()
    )
    path = tmp_path / "telemetry.toml"
    path.write_text(TEMPLATE.split("# [handlers.otlp]", 1)[0] + uncommented + "\n")
    assert cli_main(["check-config", str(path)]) == 0
    assert "switched off: otlp" in capsys.readouterr().err
    needs("httpx", "opentelemetry.proto")  # switched on, the OTLP extra must be there
    monkeypatch.setenv("OTLP_ENABLED", "true")
    assert cli_main(["check-config", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["handlers"]["otlp"]["enabled"] is True


def test_unset_variables_of_a_switched_off_handler_are_not_mistakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """${VAR} without default, unset, is a mistake in a handler that is on, not in one that
    is switched off; an unset variable in `enabled` itself still is."""
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = tmp_path / "c.toml"
    table = '[handlers.m]\nsink = "memory"\nenabled = {on}\nmaxlen = "${{NOT_SET_ANYWHERE}}"\n'
    path.write_text(table.format(on="false"))
    assert cli_main(["check-config", str(path)]) == 0
    capsys.readouterr()
    path.write_text(table.format(on="true"))
    assert cli_main(["check-config", str(path)]) == 1
    assert "handlers.m.maxlen uses ${NOT_SET_ANYWHERE}" in capsys.readouterr().err
    path.write_text(table.format(on='"${NOT_SET_ANYWHERE}"'))
    assert cli_main(["check-config", str(path)]) == 1
    assert "handlers.m.enabled uses ${NOT_SET_ANYWHERE}" in capsys.readouterr().err


def test_check_config_without_a_file_reads_telemetry_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config with no FILE checks the file TELEMETRY_CONFIG names (the one a hub
    created without handlers reads); with neither it says what to give and exits 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEMETRY_CONFIG", raising=False)
    assert cli_main(["check-config"]) == 2
    assert "set TELEMETRY_CONFIG" in capsys.readouterr().err
    Path("conf.toml").write_text('[handlers.m]\nsink = "memory"\n')
    monkeypatch.setenv("TELEMETRY_CONFIG", "conf.toml")
    assert cli_main(["check-config"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["handlers"]["m"]["sink"] == "telemetry.sinks.memory:MemorySink"
    assert captured.err.startswith("conf.toml: ok; handlers: m")
