"""The installs users have: nothing optional is imported until its feature is used, a missing
extra is named in one line when its feature is, and the pytest plugin never touches a test run
that does not use it.

Each check runs in a fresh interpreter (what is already imported here would hide what an
import pulls in); a missing package is simulated by a ``None`` in ``sys.modules``, which makes
its import fail as an absent one does. ``.ci/run`` runs the same tests against the wheel in
installs that really lack the extras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import telemetry
from tests.conftest import needs

#: Where the telemetry under test is (the checkout, or site-packages for an installed wheel).
HOME = Path(telemetry.__file__).resolve().parent.parent
CONFTEST = Path(__file__).with_name("conftest.py")
TIMEOUT_S = 120
#: The top-level modules of every optional package and test tool.
OPTIONAL = (
    "fastapi",
    "google",
    "httpx",
    "hypothesis",
    "opentelemetry",
    "prometheus_client",
    "pytest",
    "starlette",
    "uvicorn",
    "websockets",
    "yaml",
)


def python(script: str, *, block: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter that imports this telemetry, with the packages
    of ``block`` made unimportable."""
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in block)
    env = {**os.environ, "PYTHONPATH": str(HOME)}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_using_telemetry_imports_no_optional_package() -> None:
    """import telemetry, its public modules, a hub with a file and a span, and the stderr
    fallback import none of the optional packages, even where they are installed."""
    child = python(
        f"""
        import asyncio, tempfile
        import telemetry as tel
        import telemetry.cli, telemetry.sinks, telemetry.testing
        import telemetry.integrations.asgi, telemetry.integrations.logging
        import telemetry.integrations.uvicorn
        from telemetry.sinks import FileSink, MemorySink

        async def main():
            folder = tempfile.mkdtemp()
            async with tel.Telemetry(handlers={{"f": FileSink(folder + "/a.jsonl"),
                                                "m": MemorySink()}}):
                async with tel.span("work"):
                    await tel.log("info", "inside")
            tel.log_nowait("info", "to the fallback")

        asyncio.run(main())
        print(sorted({{m.split(".")[0] for m in sys.modules}} & set({OPTIONAL!r})))
        """
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.replace("'", '"')) == []


def test_the_pytest_plugin_imports_nothing_of_aiotelemetry() -> None:
    """The module the pytest11 entry point loads in every pytest run imports no telemetry."""
    child = python(
        """
        import _aiotelemetry_pytestplugin
        print(sorted(m for m in sys.modules if m.split(".")[0] == "telemetry"))
        """
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"


#: Per feature: the packages made missing, how it is used, how its one line starts and ends.
MISSING = {
    "prometheus": (
        ("prometheus_client",),
        "from telemetry.integrations.prometheus import TelemetryCollector",
        "ModuleNotFoundError: telemetry.integrations.prometheus needs prometheus-client, which",
        " is not installed: pip install 'aiotelemetry[prometheus]'",
    ),
    "otlp": (
        ("httpx",),
        "from telemetry.sinks import OTLPSink; OTLPSink('http://127.0.0.1:4318')",
        "ConfigError: OTLPSink needs httpx",
        ": pip install 'aiotelemetry[otlp]'",
    ),
    "otlp-protobuf": (
        ("opentelemetry.proto",),
        "from telemetry.sinks import OTLPSink; OTLPSink('http://127.0.0.1:4318')",
        "ConfigError: OTLPSink with protocol 'http/protobuf' needs opentelemetry-proto",
        ": pip install 'aiotelemetry[otlp]', or use protocol='http/json'",
    ),
    "yaml": (
        ("yaml",),
        "import pathlib, tempfile, telemetry\n"
        "p = pathlib.Path(tempfile.mkdtemp()) / 'telemetry.yaml'\n"
        "p.write_text('min_level: info')\n"
        "telemetry.Telemetry.from_file(p)",
        "ConfigError: ",
        "telemetry.yaml is YAML, which needs PyYAML: pip install 'aiotelemetry[yaml]'",
    ),
}


@pytest.mark.parametrize("extra", sorted(MISSING))
def test_a_missing_extra_is_named_in_one_line_when_its_feature_is_used(extra: str) -> None:
    """Using a feature whose extra is missing fails at that moment with one line naming the
    extra to install; the rest of the package works as before in the same process."""
    block, use, starts, ends = MISSING[extra]
    if extra == "otlp-protobuf":
        needs("httpx")  # the protobuf check comes after the one for httpx
    child = python(
        f"""
        import asyncio
        import telemetry as tel
        from telemetry.sinks import MemorySink
        try:
            exec({use!r})
        except Exception as exc:
            print(f"{{type(exc).__name__}}: {{exc}}")
        else:
            print("no error")

        async def main():
            sink = MemorySink()
            async with tel.Telemetry(handlers={{"m": sink}}):
                await tel.log("info", "still fine")
            print(len(sink.signals))

        asyncio.run(main())
        """,
        block=block,
    )
    assert child.returncode == 0, child.stderr
    error, written = child.stdout.splitlines()
    assert error.startswith(starts) and error.endswith(ends)
    assert written == "1"


def test_a_missing_extra_stops_a_script_with_that_one_line() -> None:
    """The last line a script prints when it imports the Prometheus integration without the
    extra is the one that names the extra."""
    child = python(
        "from telemetry.integrations.prometheus import TelemetryCollector",
        block=("prometheus_client",),
    )
    assert child.returncode == 1
    assert child.stderr.splitlines()[-1] == (
        "ModuleNotFoundError: telemetry.integrations.prometheus needs prometheus-client, "
        "which is not installed: pip install 'aiotelemetry[prometheus]'"
    )


def test_opentelemetry_imported_after_the_hub_opened_is_still_followed() -> None:
    """OpenTelemetry, imported only after telemetry and its hub (nothing of it imported
    before): signals in its span carry its ids, and our span inside it is its child and what
    it propagates."""
    needs("opentelemetry.sdk")
    child = python(
        """
        import asyncio
        import telemetry as tel
        from telemetry.sinks import MemorySink
        from telemetry.testing import capture_signals

        async def main():
            sink = MemorySink()
            async with tel.Telemetry(handlers={"m": sink}) as hub:
                assert not any(m.startswith("opentelemetry") for m in sys.modules)
                await hub.log("info", "before")
                from opentelemetry import propagate
                from opentelemetry.sdk.trace import TracerProvider

                tracer = TracerProvider().get_tracer("test")
                with tracer.start_as_current_span("theirs") as theirs:
                    await hub.log("info", "inside")
                    async with hub.span("ours", level="info") as ours:
                        carrier = {}
                        propagate.inject(carrier)
            ctx = theirs.get_span_context()
            by = {s.msg or s.id: s for s in sink.signals}
            trace_id, span_id = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
            assert by["before"].trace_id is None
            assert (by["inside"].trace_id, by["inside"].span_id) == (trace_id, span_id)
            assert (by["ours"].trace_id, by["ours"].parent_id) == (trace_id, span_id)
            assert carrier["traceparent"] == f"00-{trace_id}-{ours.span_id}-01"
            with capture_signals() as captured, tracer.start_as_current_span("again") as again:
                tel.log_nowait("info", "through the fallback hub, compiled at import")
            assert captured[0].span_id == f"{again.get_span_context().span_id:016x}"
            print("ok")

        asyncio.run(main())
        """
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "ok"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own, with plugins autoloaded and this telemetry importable in its children."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(HOME))
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a child process (its own modules and default hub)."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_an_unrelated_pytest_run_never_imports_aiotelemetry(pytester: pytest.Pytester) -> None:
    """In an environment where aiotelemetry is installed, a test run that does not use its
    fixture has the plugin loaded and not one module of telemetry imported."""
    pytester.makepyfile(
        """
        import sys

        def test_unrelated():
            assert "_aiotelemetry_pytestplugin" in sys.modules
            assert not [m for m in sys.modules if m.split(".")[0] == "telemetry"]
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_a_broken_install_errors_only_the_tests_that_use_the_fixture(
    pytester: pytest.Pytester,
) -> None:
    """When telemetry cannot be imported, the run goes on: the tests that request tel_capture
    error at setup with the reason, the others pass."""
    pytester.mkpydir("telemetry").joinpath("__init__.py").write_text(
        "raise ImportError('a broken install')\n"
    )
    pytester.makepyfile(
        """
        def test_unrelated():
            assert True

        def test_with_the_fixture(tel_capture):
            assert False, "never reached"
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_with_the_fixture*", "*a broken install*"])


def test_a_test_that_leaves_a_hub_open_fails_alone(pytester: pytest.Pytester) -> None:
    """A test that leaves a hub open (async or with-block) errors at teardown; the hub is
    closed, its signals written, and every test after it sees the stderr fallback again."""
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        """
        import pytest
        import telemetry as tel
        from telemetry.sinks import MemorySink

        SINKS = []

        async def test_leaves_an_async_hub_open():
            SINKS.append(MemorySink())
            await tel.Telemetry(handlers={"m": SINKS[-1]}).open()
            await tel.log("info", "queued in the leaked hub")

        def test_leaves_a_background_hub_open():
            SINKS.append(MemorySink())
            tel.Telemetry(handlers={"m": SINKS[-1]}).__enter__()
            tel.log_nowait("info", "handed to the leaked hub")

        @pytest.mark.parametrize("n", range(5))
        def test_after(n):
            assert list(tel.stats().handlers) == ["stderr"]
            assert [s.msg for s in SINKS[0].signals] == ["queued in the leaked hub"]
            assert [s.msg for s in SINKS[1].signals] == ["handed to the leaked hub"]
        """
    )
    result = _run(pytester, "-p", "asyncio", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=7, errors=2)
    result.stdout.fnmatch_lines(["*the test left 1 hub(s) open*"])
