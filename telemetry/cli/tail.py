"""``python -m telemetry tail``: print the signals of JSON-lines files, readably, as they come.

Signals are printed with `TextFormat` (coloured on a terminal), a
signal that carries an exception followed by its traceback, indented (``--no-traceback``
leaves it out), or as the JSON lines they were with ``--json``. Lines that are not signals are
never dropped quietly: in text output they are printed where they occur, marked ``!!`` with
the reason; with ``--json`` they go to stderr, so that stdout stays valid JSON lines. Either
way they are counted, and the count is printed to stderr at the end.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from ..formats.text import TextFormat
from .filters import SignalFilter
from .follow import DEFAULT_POLL_INTERVAL_S, FollowedFile
from .reader import PROBLEMS, LineDecoder, Record, is_gzip, read_records

__all__ = ["Printer", "tail"]

PROG = "python -m telemetry"
_MARK = "!!"
_MAGENTA = "\x1b[35m"
_RESET = "\x1b[0m"


class Printer:
    """Writes what passes the filter; counts what was shown, filtered and not a signal."""

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        select: SignalFilter,
        json: bool = False,
        colour: bool = False,
        traceback: bool = True,
    ) -> None:
        self.out = out
        self.err = err
        self.select = select
        self.json = json
        self.colour = colour
        self._text = TextFormat(colour=colour, traceback=traceback)
        self.shown = 0
        self.filtered = 0
        self.problems: Counter[str] = Counter()

    def wants(self, rec: Record) -> bool:
        """Whether ``rec`` is to be shown (lines that are not signals always are); counts."""
        if rec.signal is None:
            self.problems[rec.problem or "not_json"] += 1
            return True
        if self.select.allows(rec.signal):
            return True
        self.filtered += 1
        return False

    def show(self, rec: Record) -> None:
        """Write one record."""
        if rec.signal is not None:
            self.shown += 1
            if self.json:
                self.out.write(rec.raw.decode("utf-8") + "\n")
            else:
                self.out.write(self._text.format(rec.signal) + "\n")
            return
        what = PROBLEMS.get(rec.problem or "", rec.problem)
        line = f"{rec.file}:{rec.lineno}: {what}: {rec.shown_text()}"
        if self.json:
            self.err.write(f"{PROG} tail: {line}\n")
        elif self.colour:
            self.out.write(f"{_MAGENTA}{_MARK} {line}{_RESET}\n")
        else:
            self.out.write(f"{_MARK} {line}\n")

    def take(self, records: Iterable[Record]) -> None:
        """Filter and show records as they come."""
        for rec in records:
            if self.wants(rec):
                self.show(rec)

    def summary(self) -> str | None:
        """A line about the lines that were not signals, if there were any."""
        total = sum(self.problems.values())
        if not total:
            return None
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.problems.items()))
        noun = "line was" if total == 1 else "lines were"
        return f"{PROG} tail: {total} {noun} not signals ({reasons})"


def tail(
    paths: Sequence[str],
    *,
    printer: Printer,
    lines: int | None = None,
    follow: bool = False,
    interval: float = DEFAULT_POLL_INTERVAL_S,
    stop: threading.Event | None = None,
) -> int:
    """Print the files' records in order (only the last ``lines`` ones if given), then, with
    ``follow``, what is appended to them until Ctrl-C or ``stop`` is set.

    Returns the exit status: 0, or 1 if a file could not be read (without ``follow``, a
    missing file is an error; with it, it is waited for). Compressed files are read once and
    never followed.
    """
    status = 0
    decoder = LineDecoder()
    kept: deque[Record] | None = deque(maxlen=lines) if lines is not None else None

    def take(records: Iterable[Record]) -> None:
        if kept is None:
            printer.take(records)
        else:
            kept.extend(rec for rec in records if printer.wants(rec))

    followed: list[FollowedFile] = []
    for path in paths:
        try:
            if follow and not (Path(path).is_file() and is_gzip(path)):
                fol = FollowedFile(path, decoder)
                take(fol.poll())
                if not fol.is_open:
                    printer.err.write(f"{PROG} tail: waiting for {path} to appear\n")
                followed.append(fol)
            else:
                take(read_records(path, decoder))
        except BrokenPipeError:
            raise
        except OSError as exc:
            printer.err.write(f"{PROG} tail: cannot read {path}: {exc.strerror or exc}\n")
            status = 1
    if kept is not None:
        for rec in kept:
            printer.show(rec)
    printer.out.flush()

    if followed:
        _follow(followed, printer, interval, stop or threading.Event())
    note = printer.summary()
    if note:
        printer.out.flush()
        printer.err.write(note + "\n")
    return status


def _follow(
    files: list[FollowedFile], printer: Printer, interval: float, stop: threading.Event
) -> None:
    try:
        while not stop.wait(interval):
            for fol in files:
                printer.take(fol.poll())
            printer.out.flush()
    except KeyboardInterrupt:  # Ctrl-C is how following ends: not an error
        pass
    finally:
        for fol in files:
            printer.take(fol.close())
        printer.out.flush()
