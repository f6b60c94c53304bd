"""The suite against the built wheel, in the installs users have.

Builds the wheel once, then for each install profile makes a clean virtual environment, installs
the wheel (with the profile's extras) and the test tools the profile names, at the versions of
``uv.lock``, and runs the suite there: from a copy of the repository without the ``telemetry``
package, so that ``import telemetry`` can only find the installed wheel (checked before the run,
and by ``tests/conftest.py`` in it). ``TELEMETRY_TEST_PROFILE`` names the profile: a test module
that needs a package the profile leaves out skips with that reason, even under ``CI``, while a
missing receiver (rsyslogd, journald) still fails there.

Profiles: ``core`` (the dependencies only), ``fastapi`` (``aiotelemetry[fastapi]``), ``all``
(every extra and the whole test group). The ``all`` profile also runs on every other CPython
3.11+ found on ``PATH`` or installed by pyenv (one per version: a machine whose system Python
is 3.11 may have 3.12 and 3.13 there, and Debian 13's is 3.13). Prints one line per profile:
passed, skipped, failed, errors and the time it took; exits 1 if any profile failed.

    python .ci/profiles.py [PROFILE...]      # default: every profile
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("fastapi", "otlp", "prometheus", "yaml")
#: What every profile needs to run the suite at all.
TEST_TOOLS = ("pytest", "pytest-asyncio", "hypothesis", "blockbuster")
#: Per profile: the extras installed with the wheel, and the test tools beyond TEST_TOOLS
#: (None: the whole test group of pyproject.toml).
PROFILES: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "core": ((), ()),
    "fastapi": (("fastapi",), ("fastapi", "uvicorn", "httpx", "websockets")),
    "all": (EXTRAS, None),
}
#: Not copied: the package (the wheel must be what is tested) and what is built or cached.
SKIP_TOP = {"telemetry", "_aiotelemetry_pytestplugin.py", ".venv", ".git", "site", "dist", "logs"}
SKIP_ANY = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}


def uv() -> list[str]:
    """The Makefile's uv (``UV``), else uv from PATH, else as a module of this interpreter."""
    given = os.environ.get("UV")
    if given:
        return shlex.split(given)
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


def interpreters(main: str) -> list[tuple[str, str]]:
    """``(version, path)`` of the interpreter of ``.venv``, then of each other CPython 3.11+
    version on PATH or in pyenv's versions (``$PYENV_ROOT``, else ``~/.pyenv``)."""
    seen: dict[str, str] = {}
    names = [main] + [f"python3.{n}" for n in range(11, 20)] + ["python3"]
    paths = [shutil.which(name) or (name if os.path.isabs(name) else None) for name in names]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    paths += sorted(str(p) for p in pyenv.glob("3.*/bin/python3"))
    for path in paths:
        if path is None:
            continue
        try:
            out = run(
                [
                    path,
                    "-c",
                    "import sys; print('%d.%d' % sys.version_info[:2]"
                    " if sys.implementation.name == 'cpython' else '0.0')",
                ],
                capture_output=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        if tuple(map(int, out.split("."))) >= (3, 11):
            seen.setdefault(out, path)
    return list(seen.items())


def copy_tree(dest: Path) -> None:
    """The repository without the package: tests, docs, examples, bench, pyproject.toml."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = SKIP_TOP if Path(folder) == ROOT else set()
        return {n for n in names if n in top or n in SKIP_ANY}

    shutil.copytree(ROOT, dest, ignore=ignore)


def requirements(work: Path) -> tuple[Path, Path]:
    """The locked versions of everything (constraints) and the test group (requirements)."""
    every, test = work / "constraints.txt", work / "test.txt"
    export = [*uv(), "export", "--frozen", "--no-hashes", "--no-emit-project", "--quiet"]
    run([*export, "--all-extras", "--all-groups", "-o", str(every)], cwd=ROOT)
    run([*export, "--only-group", "test", "-o", str(test)], cwd=ROOT)
    return every, test


def install(venv: Path, python: str, wheel: Path, profile: str, locks: tuple[Path, Path]) -> Path:
    extras, tools = PROFILES[profile]
    run([*uv(), "venv", "--quiet", "--python", python, str(venv)])
    target = venv / "bin" / "python"
    spec = f"aiotelemetry[{','.join(extras)}] @ {wheel.as_uri()}" if extras else str(wheel)
    more = ["-r", str(locks[1])] if tools is None else []
    pip = [*uv(), "pip", "install", "--quiet", "--python", str(target), "-c", str(locks[0])]
    run([*pip, spec, *TEST_TOOLS, *(tools or ()), *more])
    return target


def where_telemetry(python: Path, cwd: Path) -> Path:
    """The telemetry ``python`` imports from ``cwd``: it must be the installed one."""
    out = run(
        [
            str(python),
            "-c",
            "import sysconfig, telemetry; "
            "print(telemetry.__file__); print(sysconfig.get_paths()['purelib'])",
        ],
        cwd=cwd,
        capture_output=True,
    ).stdout.split("\n")
    found, purelib = Path(out[0]).resolve(), Path(out[1]).resolve()
    if purelib not in found.parents:
        sys.exit(f"telemetry under test is {found}, not the wheel in {purelib}")
    return found.parent


def counts(report: Path) -> dict[str, int]:
    """passed, skipped, failed and errors from pytest's JUnit XML report."""
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
    failed, errors = int(suite.get("failures", 0)), int(suite.get("errors", 0))
    return {
        "passed": tests - skipped - failed - errors,
        "skipped": skipped,
        "failed": failed,
        "errors": errors,
    }


def main(argv: list[str]) -> int:
    chosen = argv or list(PROFILES)
    unknown = set(chosen) - set(PROFILES)
    if unknown:
        sys.exit(f"unknown profiles {sorted(unknown)}; choose from {list(PROFILES)}")
    main_python = str(ROOT / ".venv" / "bin" / "python")
    if not os.path.exists(main_python):
        main_python = sys.executable
    found = interpreters(main_python)
    runs = [(found[0], p) for p in chosen]
    runs += [(other, "all") for other in found[1:] if "all" in chosen]
    summary: list[str] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="telemetry-profiles-") as tmp:
        work = Path(tmp)
        run([*uv(), "build", "--wheel", "--quiet", "--out-dir", str(work / "dist")], cwd=ROOT)
        (wheel,) = (work / "dist").glob("aiotelemetry-*.whl")
        locks = requirements(work)
        tree = work / "tree"
        copy_tree(tree)
        for (version, python), profile in runs:
            name = f"{profile} (python {version})"
            start = time.monotonic()
            venv = work / f"venv-{profile}-{version}"
            target = install(venv, python, wheel, profile, locks)
            installed = time.monotonic() - start
            home = where_telemetry(target, tree)
            report = work / f"{profile}-{version}.xml"
            env = {**os.environ, "TELEMETRY_TEST_PROFILE": profile}
            env.pop("PYTHONPATH", None)
            cmd = [str(target), "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
            cmd += [f"--junitxml={report}", f"--basetemp={work / ('pytest-' + profile)}"]
            print(f"\n=== profile {name}: {home}\n$ {shlex.join(cmd)}", flush=True)
            status = subprocess.run(cmd, cwd=tree, env=env, check=False).returncode
            took = time.monotonic() - start
            n = (
                counts(report)
                if report.exists()
                else dict.fromkeys(("passed", "skipped", "failed", "errors"), 0)
            )
            ok = ok and status == 0
            line = (
                f"profile {name}: {n['passed']} passed, {n['skipped']} skipped, "
                f"{n['failed']} failed, {n['errors']} errors, exit {status}, "
                f"{took:.0f} s (install {installed:.0f} s)"
            )
            print(line, flush=True)
            summary.append(line)
    print("\n" + "\n".join(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
