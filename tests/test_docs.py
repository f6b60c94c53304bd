"""Every code example in the documentation runs, and the tables that mirror the code agree.

Each page's code blocks run in order, in one namespace, in a fresh working directory, the way a
reader would paste them: ``python`` blocks (a top-level ``await`` runs as in
``python -m asyncio``; a ``--8<--`` include runs the included file as a script) and shell blocks
whose commands are ``python -m telemetry ...`` (run through ``main()``, exit status 0 expected).
A block after ``<!-- pytest -->`` is a test file, run by pytest. Any other code block must be
marked ``<!-- not-run: reason -->``; output shown as ``text`` is not code.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import telemetry as tel
from telemetry._env import VARIABLES as ENV_VARIABLES
from telemetry._env import EnvConfig
from telemetry._stats import DROP_REASONS
from telemetry.cli import main as cli_main
from tests.conftest import needs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
CODE = {"python", "py", "bash", "sh", "shell", "console"}
SHELL = {"bash", "sh", "shell", "console"}
OPEN_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*\S.*-->\s*$")
PYTEST = re.compile(r"^\s*<!--\s*pytest\s*-->\s*$")
SNIPPET = re.compile(r"""^\s*--8<--\s+["']?(?P<path>[^"']+)["']?\s*$""")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    body: str
    marker: str | None  # "not-run", "pytest" or None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, with the marker comment just above each."""
    out = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = OPEN_FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, lang = m["indent"], m["fence"], m["lang"].lower()
        start = i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = "not-run" if NOT_RUN.match(above) else "pytest" if PYTEST.match(above) else None
        out.append(Block(page, start + 1, lang, "\n".join(body) + "\n", marker))
    return out


def resolve_snippets(body: str) -> str:
    """Replace ``--8<-- "path"`` lines by the file (paths from the repository root)."""
    return "".join(
        (ROOT / m["path"]).read_text() if (m := SNIPPET.match(line)) else line + "\n"
        for line in body.splitlines()
    )


def run_python(block: Block, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
    includes = [m["path"] for line in block.body.splitlines() if (m := SNIPPET.match(line))]
    if includes:
        source, filename = resolve_snippets(block.body), str(ROOT / includes[0])
    else:  # padded so that tracebacks point at the line in the page, and show it
        source, filename = "\n" * block.line + block.body, str(block.page)
    code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        loop.run_until_complete(result)


def run_shell(block: Block) -> None:
    for line in block.body.splitlines():
        command = line.split("#", 1)[0].strip()
        if not command:
            continue
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "telemetry"], (
            f"{block.where}: only `python -m telemetry ...` runs here; "
            f"mark the block <!-- not-run: reason --> ({command!r})"
        )
        assert cli_main(argv[3:]) == 0, f"{block.where}: {command!r} failed"


def runnable(page: Path) -> list[Block]:
    """The blocks of ``page`` that run: code, not marked not-run."""
    return [b for b in blocks(page) if b.lang in CODE and b.marker != "not-run"]


#: Pages whose examples use optional packages: where one is missing, the page is skipped with
#: its name (tests/conftest.py, needs).
PAGE_NEEDS = {
    "configuration.md": ("fastapi", "yaml"),
    "context.md": ("opentelemetry.sdk",),
    "integrations/fastapi.md": ("fastapi", "httpx", "uvicorn", "websockets"),
    "integrations/opentelemetry.md": ("opentelemetry.sdk",),
    "integrations/prometheus.md": ("prometheus_client",),
    "metrics.md": ("opentelemetry.metrics", "prometheus_client", "httpx", "opentelemetry.proto"),
    "sinks/otlp.md": ("httpx", "opentelemetry.proto"),
}


#: Pages with no code to run: the API reference (``:::`` directives, rendered from the
#: docstrings), the changelog (an include of CHANGELOG.md), and pages of prose and tables.
#: A new page without a runnable example is named here on purpose, or given one.
WITHOUT_CODE = {"benchmarks.md", "changelog.md", "comparison.md", "contributing.md"}
PAGES_WITH_CODE = [p for p in PAGES if runnable(p)]


def test_only_the_pages_named_have_no_code_to_run() -> None:
    """Every page but the reference and the ones named holds a runnable example, so that the
    page tests below check something on each page they name."""
    without = {str(p.relative_to(DOCS)) for p in PAGES if not runnable(p)}
    reference = {str(p.relative_to(DOCS)) for p in (DOCS / "reference").glob("*.md")}
    assert reference and without == WITHOUT_CODE | reference
    assert len(PAGES_WITH_CODE) == len(PAGES) - len(without) > len(PAGES) // 2


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The page's code blocks run in order, every one of them, and leave no hub open."""
    needs(*PAGE_NEEDS.get(str(page.relative_to(DOCS)), ()))
    monkeypatch.chdir(tmp_path)
    for var in ENV_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    ran = 0
    try:
        for block in blocks(page):
            if block.lang not in CODE or block.marker == "not-run":
                continue
            if block.marker == "pytest":
                run_as_test_file(block, request.getfixturevalue("pytester"))
                monkeypatch.chdir(tmp_path)  # pytester moved to a folder of its own
            elif block.lang in SHELL:
                run_shell(block)
            else:
                run_python(block, namespace, loop)
            ran += 1
        assert ran == len(runnable(page)) > 0
        assert tel.get_hub() is None, f"{page.name} leaves a hub open"
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def run_as_test_file(block: Block, pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_from_docs=block.body)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, f"{block.where}: {outcomes}"
    assert set(outcomes) <= {"passed"}, f"{block.where}: {result.stdout.str()}"


def test_every_code_block_runs_or_says_why_not() -> None:
    """A code block is run, or marked not-run with a reason, and such blocks stay rare."""
    all_blocks = [b for page in PAGES for b in blocks(page) if b.lang in CODE]
    not_run = [b.where for b in all_blocks if b.marker == "not-run"]
    assert all_blocks
    assert len(not_run) * 10 <= len(all_blocks), f"too many blocks are not run: {not_run}"
    unlabelled = [b.where for page in PAGES for b in blocks(page) if not b.lang]
    assert not unlabelled, f"give these blocks a language (text for output): {unlabelled}"


def test_drop_reasons_are_all_explained() -> None:
    """The operating page's table of drop reasons lists exactly the reasons the code counts."""
    text = (DOCS / "operating.md").read_text().split("## What drops mean", 1)[1].split("\n## ")[0]
    table = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert table == set(DROP_REASONS)


def test_environment_table_lists_every_variable() -> None:
    """The configuration page lists exactly the TELEMETRY_* variables the hub reads."""
    text = (DOCS / "configuration.md").read_text()
    listed = set(re.findall(r"^\| `(TELEMETRY_\w+)` \|", text, re.MULTILINE))
    read = {f"TELEMETRY_{name.upper()}" for name in EnvConfig.__struct_fields__}
    assert listed == read


def test_changelog_page_includes_the_changelog() -> None:
    """The changelog page is the repository's CHANGELOG.md, with an Unreleased section."""
    assert SNIPPET.match((DOCS / "changelog.md").read_text().strip())
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()


def test_every_page_is_in_the_navigation() -> None:
    """mkdocs.yml's nav names every page (strict builds only warn about orphans)."""
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:", 1)[1]
    for page in PAGES:
        assert str(page.relative_to(DOCS)) in nav, page


def test_snippet_helper_reads_files_from_the_root() -> None:
    """An include line is replaced by the file it names."""
    body = textwrap.dedent("""\
        --8<-- "examples/quickstart.py"
        x = 1
    """)
    assert resolve_snippets(body) == (ROOT / "examples/quickstart.py").read_text() + "x = 1\n"


def test_readme_example_runs_as_a_script(tmp_path: Path) -> None:
    """The README's example, run as the script it is, writes its three signals to the file."""
    (code,) = [b.body for b in blocks(ROOT / "README.md") if b.lang == "python"]
    script = tmp_path / "readme_example.py"
    script.write_text(code)
    subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        check=True,
        timeout=60,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    records = [json.loads(line) for line in (tmp_path / "logs/app.jsonl").read_text().splitlines()]
    assert [(r["kind"], r.get("id"), r.get("msg")) for r in records] == [
        ("log", None, "payment accepted"),
        ("event", "order.placed", None),
        ("span", "checkout", None),
    ]
    assert all(r["ctx"] == {"request_id": "r-42"} for r in records)
    assert records[0]["trace_id"] == records[2]["trace_id"]
