"""The source of the compiled emitting path, and compiling it where tools can read it.

The functions of ``telemetry._emit`` are generated from the stages a configuration needs. This
module writes their source (a template per function, filled with only the stages that are
there) and compiles it. Each compiled function gets a filename of its own that names what it
is, its level, its hub and its shape, such as ``<telemetry emit info hub3 [1 handler]
5c0f2e9a>``; its source is put into `linecache` under that name, so that a traceback
shows its lines, ``inspect.getsource`` finds it and a debugger steps through it; and the
source is kept on the function as ``__source__``. With ``TELEMETRY_DEBUG_EMIT=1`` every new
source is printed to stderr as it is compiled.

Nothing of the user's reaches the source: only the shape of the configuration does. A source
is compiled once, however many hubs and levels share it; each function then gets a copy of
the code object carrying its own filename.
"""

from __future__ import annotations

import hashlib
import linecache
import sys
from collections.abc import Callable, Iterable
from types import CodeType
from typing import Any

from . import _otel
from ._filters import Filters
from ._handler import Handler
from ._signal import Signal

__all__ = [
    "DISPATCH_SOURCE",
    "OTEL_LINES",
    "Shape",
    "compile_function",
    "emitter_source",
    "filter_stage",
    "forget_sources",
    "offer_source",
    "shape_label",
    "signal_call",
    "source_digest",
]

_SOURCE_CACHE: dict[str, CodeType] = {}
_SOURCE_CACHE_MAX = 256
"""Distinct sources kept compiled; past it the cache starts again (a hub whose handlers keep
changing makes a new shape each time)."""


def compile_function(
    source: str,
    name: str,
    filename: str,
    namespace: dict[str, Any],
    *,
    registered: set[str],
    debug: bool = False,
) -> Callable[..., Any]:
    """Compile ``source`` (once per distinct source), run it in ``namespace`` under
    ``filename`` and return the function called ``name`` that it defines, with its source as
    ``__source__``. The source goes into `linecache` first, and ``filename`` into
    ``registered`` (what `forget_sources` takes out again when the hub goes)."""
    if filename not in registered or linecache.cache.get(filename, (None,))[0] != len(source):
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        registered.add(filename)
        if debug:
            sys.stderr.write(f"# {filename}\n{source}\n")
    code = _SOURCE_CACHE.get(source)
    if code is None:
        if len(_SOURCE_CACHE) >= _SOURCE_CACHE_MAX:
            _SOURCE_CACHE.clear()
        code = _SOURCE_CACHE[source] = compile(source, "<telemetry>", "exec")
    exec(_renamed(code, filename), namespace)
    fn: Callable[..., Any] = namespace[name]
    fn.__source__ = source  # type: ignore[attr-defined]
    return fn


def _renamed(code: CodeType, filename: str) -> CodeType:
    """``code`` and the code objects nested in it, with ``filename`` as theirs."""
    consts = tuple(_renamed(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def forget_sources(registered: Iterable[str]) -> None:
    """Take a hub's sources out of `linecache` (the hub is gone)."""
    for filename in list(registered):
        linecache.cache.pop(filename, None)


def source_digest(source: str) -> str:
    """Eight hex digits that tell one source from another in a filename."""
    return hashlib.blake2s(source.encode(), digest_size=4).hexdigest()


def shape_label(shape: Shape, taps: bool) -> str:
    """The shape as words, for a filename: the handlers (and how each one filters) and the
    taps."""
    if not shape:
        parts = ["no handler"]
    else:
        n = len(shape)
        parts = [f"{n} handler" + ("s" if n > 1 else "")]
        stages = [stage for _, stage in shape if stage != "none"]
        if stages:
            parts.append("filters " + ",".join(stage for _, stage in shape))
        if not all(appends for appends, _ in shape):
            parts.append("no inline append")
    if taps:
        parts.append("taps")
    return ", ".join(parts)


def signal_call(**values: str) -> list[str]:
    """Lines that build ``sig``: ``Signal(...)`` by position, the fastest call, each argument
    on a line of its own commented with its field. The arguments are taken in the struct's own
    field order, so a change of that order cannot pass a value to the wrong field."""
    fields = Signal.__struct_fields__
    if tuple(values) != fields[: len(values)]:
        unknown = [k for k in values if k not in fields]
        raise AssertionError(f"not Signal's leading fields in order: {list(values)} {unknown}")
    return [
        "sig = Signal(",
        *(f"    {expr},  # {field}" for field, expr in values.items()),
        ")",
    ]


DISPATCH_SOURCE = """
def dispatch(sig, lv):
    if LOOP is not None and handoff is not None and get_ident() != LOOP and handoff(sig, lv):
        return DONE
    return offer(sig, lv)
"""


Shape = tuple[tuple[bool, str], ...]
"""Per handler: whether appends are taken inline, and its filter stage ("none", "check" at run time,
or "refuse": decided when compiling)."""


def filter_stage(h: Handler, level_known: bool, lv: int) -> str:
    """A handler whose only filter is a level is decided when an emitter is compiled for a
    level: the check is not there at run time (what it refuses is still counted)."""
    if h.filters is None:
        return "none"
    if level_known and not h.filters.active:
        return "none" if lv >= h.filters.levels.floor else "refuse"
    return "check"


def _offer_lines(shape: Shape, taps: bool, level: str, parking: bool = False) -> list[str]:
    """Count the signal, show it to the taps, give it to every handler; end by returning.
    ``parking`` (``deliver``): a handler's queue takes the append only while no signal is
    parked for it (``Intake.pumping``), so that a signal never passes one parked before it."""
    # With a handler, the first one counts what the hub emits (Counts).
    lines = [] if shape else ["counts.direct += 1"]
    if taps:
        lines += [
            "for tap in taps:",
            "    try:",
            "        tap(sig)",
            "    except Exception as exc:",
            "        warn('tap', f'a capture tap raised {exc!r}')",
        ]
    if not shape:
        return [*lines, "return DONE"]
    single = len(shape) == 1
    if not single:
        lines.append("waits = None")
    for i, (appends, stage) in enumerate(shape):
        pad = ""
        if stage == "refuse":
            lines.append(f"intake{i}.filtered += 1")
            continue
        if stage == "check":
            lines.append(f"if wants{i}(sig, {level}):")
            pad = "    "
        wait = (
            "return settle([intake0], sig)"
            if single
            else f"waits = [intake{i}] if waits is None else [*waits, intake{i}]"
        )
        if appends:
            pumping = f" and not intake{i}.pumping" if parking else ""
            lines += [
                f"{pad}if len(items{i}) < max{i}{pumping}:",
                f"{pad}    items{i}.append(sig)",
                f"{pad}    if getters{i}:",
                f"{pad}        wake(getters{i})",
                f"{pad}elif not full{i}(sig):",
                f"{pad}    {wait}",
            ]
        else:
            lines += [f"{pad}if not full{i}(sig):", f"{pad}    {wait}"]
    if single:
        return [*lines, "return DONE"]
    return [*lines, "return DONE if waits is None else settle(waits, sig)"]


def offer_source(shape: Shape, taps: bool, parking: bool = False) -> str:
    """The source of ``offer`` (and, ``parking``, of ``deliver``): see `_offer_lines`."""
    body = _offer_lines(shape, taps, "lv", parking)
    return "def offer(sig, lv):\n" + "".join(f"    {line}\n" for line in body)


def emitter_source(filters: Filters, on_loop: bool, shape: Shape, taps: bool) -> str:
    """Three functions: ``emit`` for the common call (the loop's thread, no error, no options
    beyond ``log`` / ``event``), which builds and offers the signal inline; ``emit_more``
    for the rest (``signal()``, ``error()``, bridges, other threads), which it hands to;
    and ``emit_span`` for a span's end on the loop's thread, which takes what the span
    knows as arguments instead of a ``More`` and builds and offers its signal inline."""
    before, after = _call_filter_lines(filters)
    head = "(kind, id, msg, data, error=None, more=None):\n"
    return (
        "def emit"
        + head
        + "".join(f"    {line}\n" for line in _emit_lines(before, after, on_loop, shape, taps))
        + "def emit_more"
        + head
        + "".join(f"    {line}\n" for line in _emit_more_lines(before, after))
        + "def emit_span(id, data, error, ns, loc, span, duration_ns, inst):\n"
        + "".join(f"    {line}\n" for line in _emit_span_lines(before, after, on_loop, shape, taps))
    )


_REFUSE = ["    counts.refused += 1", "    return REFUSED"]


def _call_filter_lines(f: Filters) -> tuple[list[str], list[str]]:
    """The call filters past the level, each only if configured: those that run before the
    signal is built (``ns`` is bound), and those that run on it (``sig`` is bound)."""
    before: list[str] = []
    if f.levels.per_namespace or f.ns:
        before += ["if LV < ns_floors[ns]:", *_REFUSE]
    if f.kind or f.id or f.sample is not None:
        checks = []
        if f.kind:
            checks.append("filters.kind.allows(kind)")
        if f.id:
            checks.append("filters.id.allows(id)")
        if f.sample is not None:
            checks.append("not filters.sampled_out(LV, kind)")
        before += _guarded(" and ".join(checks))
    after = _guarded("filters.allows_built(sig)") if f.post_build else []
    return before, after


def _emit_lines(
    before: list[str], after: list[str], on_loop: bool, shape: Shape, taps: bool
) -> list[str]:
    """The body of ``emit``: the common call, built and offered inline."""
    # Without a loop (the stderr fallback) every thread delivers itself: no thread check.
    away = " or get_ident() != LOOP" if on_loop else ""
    return [
        f"if more is not None or error is not None{away}:",
        "    return emit_more(kind, id, msg, data, error, NO_MORE if more is None else more)",
        # The call site: frame 1 is the creator, 2 its caller; resolve() skips further
        # frames of the library's own, for creators that forward.
        "frame = getframe(2)",
        "site = site_at(frame.f_lasti)  # Sites.by_offset",
        "if site is None or site[2] is not frame.f_code:",
        "    site = resolve(frame)",
        "ns = site[0]",
        *before,
        *_VALUE_LINES,
        "scope = scope_get()  # (ctx, trace id, span id, span)",
        *_otel_lines(),
        *_EMIT_SIGNAL,
        *after,
        *_offer_lines(shape, taps, "LV"),
    ]


def _emit_more_lines(before: list[str], after: list[str]) -> list[str]:
    """The body of ``emit_more``: every option, another thread, an error."""
    return [
        "if more.sample is not None and more.sample < 1 and random() >= more.sample:",
        *_REFUSE,
        "if more.location is None or more.ns is None:",
        "    site = resolve(getframe(2), more.up)",
        "    ns = site[0] if more.ns is None else more.ns",
        "    loc = site[1] if more.location is None else more.location",
        "else:",
        "    ns, loc = more.ns, more.location",
        *before,
        *_VALUE_LINES,
        "if error is not None and type(error) is not ErrorInfo:",
        "    error = error_info(error)",
        "scope = scope_get()",
        *_otel_lines(),
        "ctx = scope[0]",
        "if more.ctx:",
        "    ctx = {**ctx, **{text(k): v for k, v in more.ctx.items()}}",
        "span = scope[3] if more.span is None else more.span",
        "away = LOOP is not None and get_ident() != LOOP",
        "thread = current_thread().name if away and more.thread is None else more.thread",
        *_EMIT_MORE_SIGNAL,
        *after,
        "if more.rate_limit is not None:",
        "    rate = more.rate_limit",
        "    spec = rate if isinstance(rate, str) else ','.join(rate)",
        "    limiter = limiters.get(spec)",
        "    if limiter is None:",
        "        limiter = limiters[spec] = RateLimiter(rate)",
        "    if not limiter.allow((id or (loc and (loc.file, loc.line)), more.limit_by)):",
        *[f"    {line}" for line in _REFUSE],
        "if away and handoff is not None and handoff(sig, LV):",
        "    return DONE",
        "return offer(sig, LV)",
    ]


def _emit_span_lines(
    before: list[str], after: list[str], on_loop: bool, shape: Shape, taps: bool
) -> list[str]:
    """The body of ``emit_span``: what ``emit_more`` does for a span's end (its namespace,
    location, ids, duration and start given; no sampling or rate limit of its own), built and
    offered inline. Another thread's span end, or a span that never started (``emit_more``
    then gives it the current span's ids), goes through ``emit_more``."""
    away = " or get_ident() != LOOP" if on_loop else ""
    return [
        f"if span is None{away}:  # a span that never started, or another thread",
        "    more = More(ns=ns, location=loc, span=span, duration_ns=duration_ns, inst=inst)",
        "    return emit_more('span', id, None, data, error, more)",
        "kind = 'span'",
        "if loc is None or ns is None:",
        "    site = resolve(getframe(1), 0)",
        "    ns = site[0] if ns is None else ns",
        "    loc = site[1] if loc is None else loc",
        *before,
        *_UID_LINES,
        "if error is not None and type(error) is not ErrorInfo:",
        "    error = error_info(error)",
        *_EMIT_SPAN_SIGNAL,
        *after,
        *_offer_lines(shape, taps, "LV"),
    ]


_EMIT_SIGNAL = signal_call(
    inst="time_ns()",
    uid="uid",
    kind="kind",
    level="LABEL",
    host="HOST",
    pid="PID",
    id="id",
    ns="ns",
    msg="msg",
    data="data",
    ctx="scope[0]",
    location="site[1]",
    trace_id="scope[1]",
    span_id="scope[2]",
)
"""The signal ``emit`` builds (checked against Signal's field order when this module loads)."""
_EMIT_MORE_SIGNAL = signal_call(
    inst="time_ns() if more.inst is None else more.inst",
    uid="uid",
    kind="kind",
    level="LABEL",
    host="HOST",
    pid="PID",
    id="id",
    ns="ns",
    msg="msg",
    data="data",
    ctx="ctx",
    location="loc",
    trace_id="None if span is None else span.trace_id",
    span_id="None if span is None else span.span_id",
    error="error",
    parent_id="None if more.span is None else more.span.parent_id",
    duration_ns="more.duration_ns",
    sample="more.sample",
    thread="thread",
    task="more.task",
)
"""The signal ``emit_more`` builds: every field."""
_EMIT_SPAN_SIGNAL = signal_call(
    inst="inst",
    uid="uid",
    kind="kind",
    level="LABEL",
    host="HOST",
    pid="PID",
    id="id",
    ns="ns",
    msg="None",
    data="data",
    ctx="scope_get()[0]",
    location="loc",
    trace_id="span.trace_id",
    span_id="span.span_id",
    error="error",
    parent_id="span.parent_id",
    duration_ns="duration_ns",
)
"""The signal ``emit_span`` builds."""


OTEL_LINES = (
    "otel = otel_ctx()",
    "if otel is not OTEL_EMPTY:",
    "    otel = otel.get(OTEL_SPAN_KEY)",
    "    if otel is not None and otel is not OTEL_OURS:",
    "        otel = from_otel(otel)",
    "        if otel is not None:",
    "            scope = (scope[0], otel.trace_id, otel.span_id, otel)",
)
"""With opentelemetry-api installed: OpenTelemetry's current span, unless it is the one that stands
for ours (then ours, or none, is the innermost), replaces the scope's trace and span ids. One C
call when nothing was ever attached to OpenTelemetry's context (its default context is known by
identity); see ``_otel``."""


def _otel_lines() -> tuple[str, ...]:
    """`OTEL_LINES` when opentelemetry-api is installed, else nothing."""
    return OTEL_LINES if _otel.available() else ()


_UID_LINES = [
    "if spare:  # new_uid(), inlined for the common case: a spare one",
    "    try:",
    "        uid = take_uid()",
    "    except IndexError:  # another thread took the last spare meanwhile",
    "        uid = new_uid()",
    "else:",
    "    uid = new_uid()",
]
"""The uid: the same for every emitter."""
_VALUE_LINES = [
    "if type(msg) is not str and msg is not None:",
    "    msg = text(msg)",
    *_UID_LINES,
]
"""The message and the uid: the same for every emitter that takes a message."""


def _guarded(check: str) -> list[str]:
    """A call filter of the user's that may raise: a failure refuses the signal and warns."""
    return [
        "try:",
        f"    ok = {check}",
        "except Exception as exc:  # a pattern or a predicate of the user's blew up",
        "    warn('filters', f'a call filter raised {exc!r}')",
        "    ok = False",
        "if not ok:",
        "    counts.refused += 1",
        "    return REFUSED",
    ]
