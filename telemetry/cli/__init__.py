"""The command line: ``python -m telemetry tail | stats | check-config | init | demo``.

- ``tail FILE...``: print the signals of JSON-lines files (plain or ``.gz`` rotations), readably
  and coloured on a terminal, or as JSON lines with ``--json``; ``--follow`` keeps printing what
  is appended, across rotations, until Ctrl-C.
- ``stats FILE...``: counts by level, kind and id, error rate, first and last time.
- ``check-config [FILE]``: check a configuration file (default: the one ``TELEMETRY_CONFIG``
  names), print it resolved (secrets masked).
- ``init [FILE]``: write a commented starting configuration file.
- ``demo``: run the demo, as ``make demo`` does.

``tail`` and ``stats`` share the filters ``--level`` (a minimum), ``--id`` and ``--ns`` (globs,
repeatable), ``--since`` (``10m``, ``2h``, ``1d`` back from now, or an ISO 8601 time),
``--where KEY=VALUE`` (a data or context value, repeatable) and ``--grep TEXT``; every filter
given must hold. Lines that are not
signals (not JSON, cut short, of another shape) are shown as such and counted, never dropped.

[`main`][telemetry.cli.main] takes the arguments as a list and returns the exit status, so it
can be called in-process: 0 when all went well, 1 when a file could not be read, 2 for a usage
error, 130 when interrupted (except ``tail --follow``, which Ctrl-C ends normally, with 0).
``check-config`` exits 1 when the file has mistakes, ``init`` when the file exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TypeAlias

import msgspec

from .._errors import ConfigError
from .._signal import LEVEL_NAMES
from ..sinks.console import _wants_colour
from .config import DEFAULT_CONFIG_FILE, check_config, write_template
from .demo import run_demo
from .filters import SignalFilter, parse_since, parse_where
from .follow import DEFAULT_POLL_INTERVAL_S
from .stats import DEFAULT_TOP, collect, render
from .tail import Printer, tail

__all__ = ["build_parser", "main"]

PROG = "python -m telemetry"
_LEVEL_LIST = ", ".join(LEVEL_NAMES)


def _level(text: str) -> str:
    try:
        SignalFilter(min_level=text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _since(text: str) -> str:
    try:
        parse_since(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _where(text: str) -> tuple[str, str]:
    try:
        return parse_where(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return n


def _interval(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        s = -1.0
    if not s > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return s


def _add_filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters")
    g.add_argument(
        "--level",
        type=_level,
        metavar="LEVEL",
        help=f"only signals at this level or above ({_LEVEL_LIST})",
    )
    g.add_argument(
        "--id",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only signals whose id matches this glob (*, ?, [abc]); repeat for several",
    )
    g.add_argument(
        "--ns",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only signals whose namespace (module or logger) matches this glob "
        "(app.*, uvicorn.*); repeat for several",
    )
    g.add_argument(
        "--where",
        action="append",
        default=[],
        type=_where,
        metavar="KEY=VALUE",
        help="only signals whose data or context has KEY equal to VALUE "
        "(request_id=abc123, status=500); repeat: all must hold",
    )
    g.add_argument(
        "--grep",
        metavar="TEXT",
        help="only signals whose printed line contains TEXT (case-sensitive)",
    )
    g.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="only signals from this long ago on (30s, 10m, 2h, 1d) or from an ISO 8601 time",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m telemetry``."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read the JSON-lines files that aiotelemetry's file sink writes; check "
        "and start configuration files.",
    )
    parser.add_argument("--version", action="version", version=f"aiotelemetry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_tail(sub)
    _add_stats(sub)
    _add_config_commands(sub)
    _add_demo(sub)
    return parser


#: What ``add_subparsers`` returns (its class is argparse's own, unexported).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_tail(sub: Subparsers) -> None:
    """``tail``: print signals readably, filter them, follow a file."""
    t = sub.add_parser(
        "tail",
        help="print signals readably, filter them, follow a file as it grows",
        description="Print the signals of JSON-lines files (plain or gzip), oldest first. "
        "Lines that are not signals are shown marked '!!' and counted.",
    )
    t.add_argument("files", nargs="+", metavar="FILE")
    t.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing appended lines, across rotations, until Ctrl-C",
    )
    t.add_argument(
        "-n",
        "--lines",
        type=_count,
        metavar="N",
        help="print only the last N lines that pass the filters of what is already there "
        "(default: all)",
    )
    t.add_argument(
        "--json",
        action="store_true",
        help="print the matching lines as they are (JSON lines); other lines go to stderr",
    )
    t.add_argument(
        "--color",
        "--colour",
        dest="colour",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text output: auto (on a terminal, honouring NO_COLOR and "
        "FORCE_COLOR), always, never",
    )
    t.add_argument(
        "--no-traceback",
        dest="traceback",
        action="store_false",
        help="leave out the traceback printed under a signal that carries an exception",
    )
    t.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="SECONDS",
        help=f"how often --follow looks for new lines (default {DEFAULT_POLL_INTERVAL_S})",
    )
    _add_filters(t)


def _add_stats(sub: Subparsers) -> None:
    """``stats``: count signals."""
    s = sub.add_parser(
        "stats",
        help="counts by level, kind and id, error rate, first and last time",
        description="Count the signals of JSON-lines files (plain or gzip).",
    )
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--json", action="store_true", help="print the numbers as one JSON object")
    s.add_argument(
        "--top",
        type=_count,
        default=DEFAULT_TOP,
        metavar="N",
        help=f"list the N most frequent ids (default {DEFAULT_TOP}; 0 for all)",
    )
    _add_filters(s)


def _add_config_commands(sub: Subparsers) -> None:
    """``check-config`` and ``init``: check a configuration file, write a starting one."""
    c = sub.add_parser(
        "check-config",
        help="check a configuration file; print it resolved, secrets masked",
        description="Check a configuration file (TOML, YAML or JSON) as Telemetry.from_file "
        "reads it: every mistake is listed, and the exit status is 1. Without mistakes, the "
        "configuration is printed as JSON, with ${VAR} expanded and secrets masked. Without "
        "FILE, the file TELEMETRY_CONFIG names.",
    )
    c.add_argument("file", nargs="?", metavar="FILE")

    i = sub.add_parser(
        "init",
        help="write a commented starting configuration file",
        description=f"Write a commented configuration file (default {DEFAULT_CONFIG_FILE}); "
        "'-' prints it instead.",
    )
    i.add_argument("file", nargs="?", default=DEFAULT_CONFIG_FILE, metavar="FILE")
    i.add_argument("--force", action="store_true", help="overwrite the file if it exists")


def _add_demo(sub: Subparsers) -> None:
    """``demo``: run the demo, or the quickstart an installed package ships."""
    d = sub.add_parser(
        "demo",
        help="run the demo (what 'make demo' runs; installed: the quickstart)",
        description="From a source checkout: run examples/demo.py, or examples/quickstart.py "
        "when there is no demo.py, from the repository root. From an installed package: run "
        "the quickstart it ships, which writes logs/quickstart.jsonl in the current folder.",
    )
    d.add_argument("args", nargs=argparse.REMAINDER, help="passed on to the demo script")


def _select(args: argparse.Namespace) -> SignalFilter:
    return SignalFilter(
        min_level=args.level,
        ids=args.id,
        since_ns=None if args.since is None else parse_since(args.since),
        namespaces=args.ns,
        where=args.where,
        grep=args.grep,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments, without the program's name (default: `sys.argv[1:]`).

    Returns:
        The exit status: 0 when all went well, 1 when a file could not be read or a
        configuration has mistakes, 2 for a usage error, 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    out, err = sys.stdout, sys.stderr
    try:
        if args.command == "tail":
            colour = not args.json and (
                args.colour == "always" or (args.colour == "auto" and _wants_colour(out))
            )
            printer = Printer(
                out,
                err,
                select=_select(args),
                json=args.json,
                colour=colour,
                traceback=args.traceback,
            )
            return tail(
                args.files,
                printer=printer,
                lines=args.lines,
                follow=args.follow,
                interval=args.interval,
            )
        if args.command == "stats":
            stats, status = collect(args.files, _select(args), err=err)
            if args.json:
                out.write(msgspec.json.encode(stats).decode() + "\n")
            else:
                out.write(render(stats, top=args.top or None))
            return status
        if args.command == "check-config":
            return check_config(args.file, out=out, err=err, env=os.environ)
        if args.command == "init":
            return write_template(args.file, out=out, err=err, force=args.force)
        return run_demo(args.args, err=err)
    except KeyboardInterrupt:  # Ctrl-C while reading (--follow handles its own): no traceback
        return 130
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and keep Python from complaining about
        # the unflushable stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, out.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        finally:
            os.close(devnull)
        return 0
