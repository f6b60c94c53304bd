"""Syslog message formats: RFC 5424 for the network, RFC 3164 / glibc style for the local socket.

Both formatters turn one signal into the bytes of one syslog message (no transport framing) and,
given a size limit, truncate it without breaking a UTF-8 character or the structured data.
Whatever the input, the output holds no control character: newlines, carriage returns, ESC,
DEL, the C1 controls and the Unicode line separators in messages and values are written as
visible escapes (``\\n``, ``\\x1b``, ``\\u2028``), so that nothing a signal carries can start a
forged line at the receiver.
"""

from __future__ import annotations

import base64
import itertools
import re
import sys
import time
from typing import Any

import msgspec

from .._errors import ConfigError
from .._signal import Level, Signal
from ..formats._safe import Repairs, safe_value

__all__ = [
    "DEFAULT_SD_ID",
    "FACILITIES",
    "TRUNCATION_MARK",
    "Rfc3164Formatter",
    "Rfc5424Formatter",
    "escape_msg",
    "escape_sd_value",
    "facility_number",
    "sd_name",
    "truncate_utf8",
]

DEFAULT_SD_ID = "telemetry@32473"
"""The SD-ID the data goes under. 32473 is the private enterprise number RFC 5612 reserves for
documentation; an organisation with its own number should use it instead."""

FACILITIES: dict[str, int] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "solaris-cron": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}
"""Facility names (as in syslog.conf) to their numbers."""

TRUNCATION_MARK = "[truncated]"
"""Ends the text of a message that was cut to fit ``max_message_size``."""
_MARK = TRUNCATION_MARK.encode("ascii")

#: Values whose JSON may be written only as far as a message holds (`_Base.json_head`).
_HEADED = frozenset({bytes, bytearray, list, tuple, dict})

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BOM = b"\xef\xbb\xbf"
_SEVERITY = {lv.label: lv.syslog_severity for lv in Level}
_DEFAULT_SEVERITY = 5  # notice: for a level label this library does not define

# C0 controls, DEL, C1 controls and the two Unicode line separators, as visible escapes.
_CONTROL_CODES = (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)
_CONTROL: dict[int, str] = {
    c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROL_CODES
} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_HAS_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]").search
# Inside a PARAM-VALUE, RFC 5424 section 6.3.3 escapes '"', '\' and ']' with a backslash.
_SD_VALUE: dict[int, str] = _CONTROL | {0x5C: "\\\\", 0x22: '\\"', 0x5D: "\\]"}
_HAS_SD_SPECIAL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\\\\"\\]]').search
# SD-NAME (SD-ID and PARAM-NAME): 1 to 32 printable US-ASCII characters except '=', ' ', ']', '"'.
_NEEDS_QUOTES = re.compile('[ ="]').search
_NOT_SD_NAME = re.compile('[^\x21-\x7e]|[= \\]"]')
_NOT_PRINTUSASCII = re.compile("[^\x21-\x7e]")
# A private SD-ID: a name of SD-NAME characters but '@', then '@' and an enterprise number.
_SD_ID = re.compile(r"[\x21\x23-\x3c\x3e\x3f\x41-\x5c\x5e-\x7e]+@[0-9]+(?:\.[0-9]+)*")
_CACHE_MAX = 4096
_NO_LIMIT = sys.maxsize


def escape_msg(text: str) -> str:
    """``text`` with every control character written as a visible escape."""
    return text.translate(_CONTROL) if _HAS_CONTROL(text) else text


def escape_sd_value(text: str) -> str:
    """A PARAM-VALUE: ``"``, ``\\`` and ``]`` escaped as RFC 5424 requires, controls as escapes."""
    return text.translate(_SD_VALUE) if _HAS_SD_SPECIAL(text) else text


def sd_name(key: str) -> str:
    """A valid PARAM-NAME for ``key``: forbidden characters become ``_``, at most 32 long."""
    return _NOT_SD_NAME.sub("_", key)[:32] or "_"


def _header_field(value: str, limit: int) -> str:
    """A header field (HOSTNAME, APP-NAME, PROCID, MSGID): printable ASCII, no space, bounded."""
    return _NOT_PRINTUSASCII.sub("_", value)[:limit] or "-"


def facility_number(value: object) -> int:
    """The facility number of a name (``"local0"``) or number (0 to 23); ConfigError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 23:
        return value
    if isinstance(value, str) and value in FACILITIES:
        return FACILITIES[value]
    raise ConfigError.choice("facility", value, FACILITIES)


def check_sd_id(value: object) -> str:
    """``value`` if it is a valid private SD-ID (``name@enterprise-number``, at most 32 long)."""
    if isinstance(value, str) and len(value) <= 32 and _SD_ID.fullmatch(value):
        return value
    raise ConfigError(
        "sd_id",
        "must be 'name@enterprise-number' (at most 32 printable ASCII characters, no space, "
        f"'=', ']' or '\"'), for example {DEFAULT_SD_ID!r}; got {value!r}",
    )


def check_name(param: str, value: object, limit: int, forbidden: str = "") -> str:
    """``value`` if it is 1 to ``limit`` printable ASCII characters without ``forbidden``."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= limit
        and not _NOT_PRINTUSASCII.search(value)
        and not any(c in forbidden for c in value)
    ):
        return value
    extra = f" and none of {forbidden!r}" if forbidden else ""
    raise ConfigError(
        param,
        f"must be 1 to {limit} printable ASCII characters without spaces{extra}; got {value!r}",
    )


def truncate_utf8(data: bytes, limit: int) -> bytes:
    """The longest prefix of ``data`` of at most ``limit`` bytes that ends on a UTF-8 boundary."""
    if len(data) <= limit:
        return data
    end = max(limit, 0)
    # Back up over continuation bytes (10xxxxxx) to the first byte of the cut character.
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


def _text(sig: Signal) -> str:
    """What the message says: ``msg``, then the error's type and message."""
    text = sig.msg or ""
    if sig.error is not None:
        err = f"{sig.error.type}: {sig.error.message}"
        text = f"{text}: {err}" if text else err
    return text


def _items(sig: Signal) -> list[tuple[Any, Any]]:
    """The key/value pairs a message carries: ctx, then data, then the trace ids."""
    items = [*sig.ctx.items(), *sig.data.items()]
    if sig.trace_id is not None:
        items.append(("trace_id", sig.trace_id))
    if sig.span_id is not None:
        items.append(("span_id", sig.span_id))
    if sig.duration_ns is not None:
        items.append(("duration_ns", sig.duration_ns))
    return items


class _Base(Repairs):
    """What both formats share: PRI, value rendering, bounded caches of sanitised names."""

    def __init__(self, *, facility: int, app_name: str, hostname: str | None) -> None:
        super().__init__()
        self.facility = facility
        self.app_name = app_name
        self.hostname = hostname
        self._pri = {label: f"<{facility * 8 + sev}>" for label, sev in _SEVERITY.items()}
        self._json = msgspec.json.Encoder(enc_hook=self.enc_hook)
        self._names: dict[str, str] = {}
        self._hosts: dict[str, str] = {}

    def pri(self, sig: Signal) -> str:
        """``<PRIVAL>`` for the signal's level."""
        pri = self._pri.get(sig.level)
        return pri if pri is not None else f"<{self.facility * 8 + _DEFAULT_SEVERITY}>"

    def value(self, v: Any, limit: int | None = None) -> str:
        """A value as text: strings as they are, anything else as JSON; with a ``limit``, a
        ``bytes`` value, list, tuple or dict longer than that may be only the start of its
        JSON, longer than ``limit`` characters (`json_head`)."""
        if isinstance(v, str):
            return v
        if limit is not None and type(v) in _HEADED:
            head = self.json_head(v, limit)
            if head is not None:
                return head
        try:
            return self._json.encode(v).decode("utf-8")
        except (RecursionError, TypeError, ValueError, msgspec.EncodeError, OverflowError):
            self.repaired += 1
            return self._json.encode(safe_value(v)).decode("utf-8")

    def json_head(self, v: Any, limit: int) -> str | None:
        """``v``'s JSON, or only its start if that is longer than ``limit`` characters, built
        from a prefix of ``v`` (``None`` when it cannot be had: the whole is written then).

        A message is cut to ``limit`` bytes anyway: 10 MB of ``bytes`` (base64) or a list of a
        million items took 20 to 40 ms to write whole. The start is exactly that of the whole:
        base64 is cut at whole 3 bytes, and msgspec writes a list's items (a dict's members in
        insertion order) one after the other, so a prefix's JSON without its closing bracket
        is the start of the whole's. Prefixes of 16, 64, 256, ... items are tried until one is
        long enough (or is the whole); an item bigger than the limit is written whole."""
        if type(v) is not list and type(v) is not tuple and type(v) is not dict:
            if len(v) <= 3 * (limit // 4 + 1):
                return None
            return '"' + base64.b64encode(v[: 3 * (limit // 4 + 1)]).decode("ascii")
        n = 16
        try:
            while True:
                if n >= len(v):
                    return self._json.encode(v).decode("utf-8")
                prefix: Any = dict(itertools.islice(v.items(), n)) if type(v) is dict else v[:n]
                text = self._json.encode(prefix).decode("utf-8")[:-1]  # without "]" or "}"
                if len(text) > limit:
                    return text
                n *= 4
        except (RecursionError, TypeError, ValueError, msgspec.EncodeError, OverflowError):
            return None  # a bad value: the whole is written, and repaired

    def param_name(self, key: Any) -> str:
        """The PARAM-NAME (or logfmt key) for ``key``, cached."""
        name = self._names.get(key) if isinstance(key, str) else None
        if name is None:
            name = sd_name(key if isinstance(key, str) else self.repr(key))
            if isinstance(key, str) and len(self._names) < _CACHE_MAX:
                self._names[key] = name
        return name

    def host(self, sig: Signal) -> str:
        """HOSTNAME: the configured one, else the signal's host, sanitised."""
        if self.hostname is not None:
            return self.hostname
        host = self._hosts.get(sig.host)
        if host is None:
            host = _header_field(sig.host, 255)
            if len(self._hosts) < _CACHE_MAX:
                self._hosts[sig.host] = host
        return host


class Rfc5424Formatter(_Base):
    """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID k="v" ...] BOM MSG``.

    MSGID is the signal's ``id``; ``ctx``, ``data`` and the trace ids are the parameters of one
    SD element named ``sd_id``. A message that is not plain ASCII starts with the UTF-8 BOM, as
    section 6.4 requires (``bom=False`` leaves it out for receivers that keep it in the text).
    """

    def __init__(
        self,
        *,
        facility: int,
        app_name: str,
        hostname: str | None = None,
        sd_id: str = DEFAULT_SD_ID,
        bom: bool = True,
    ) -> None:
        super().__init__(facility=facility, app_name=app_name, hostname=hostname)
        self.sd_id = sd_id
        self.bom = bom
        self._msgids: dict[str, str] = {}
        self._sec = -1
        self._sec_text = ""

    def timestamp(self, inst: int) -> str:
        """RFC 3339 in UTC with microseconds: ``2026-08-10T17:15:34.892341Z``."""
        sec, ns = divmod(inst, 1_000_000_000)
        if sec != self._sec:
            self._sec = sec
            self._sec_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._sec_text}.{ns // 1000:06d}Z"

    def msgid(self, sig: Signal) -> str:
        """MSGID: the signal's id made printable ASCII, at most 32 long; ``-`` without one."""
        if not sig.id:
            return "-"
        msgid = self._msgids.get(sig.id)
        if msgid is None:
            msgid = _header_field(sig.id, 32)
            if len(self._msgids) < _CACHE_MAX:
                self._msgids[sig.id] = msgid
        return msgid

    def params(self, sig: Signal, limit: int | None = None) -> list[str]:
        """Each SD-PARAM as `` name="value"`` (with its leading space); a value longer than
        ``limit`` is cut to that many characters first (see `format`)."""
        # escape_sd_value(self.value(v)) and self.param_name(k), inlined for the common case
        # (a known string key, a string value): this runs for every field of every signal.
        names, value = self._names, self.value
        most = _NO_LIMIT if limit is None else limit
        out = []
        for k, v in _items(sig):
            name = names.get(k) if type(k) is str else None
            if name is None:
                name = self.param_name(k)
            text = v if type(v) is str else value(v, limit)
            if len(text) > most:
                text = text[:most]
            if _HAS_SD_SPECIAL(text) is not None:
                text = text.translate(_SD_VALUE)
            out.append(f' {name}="{text}"')
        return out

    def format(self, sig: Signal, limit: int | None = None) -> tuple[bytes, bool]:
        """The message, and whether it was truncated to ``limit`` bytes."""
        # The cached parts looked up here, the methods called only on a miss.
        pri = self._pri.get(sig.level) or self.pri(sig)
        host = self.hostname
        if host is None:
            host = self._hosts.get(sig.host) or self.host(sig)
        msgid = (self._msgids.get(sig.id) or self.msgid(sig)) if sig.id else "-"
        head = f"{pri}1 {self.timestamp(sig.inst)} {host} {self.app_name} {sig.pid or '-'} {msgid} "
        # A value or an ASCII message longer than ``limit`` is cut to ``limit`` characters
        # before it is escaped, not after: the message is truncated either way, to the same
        # bytes (escaping only lengthens text, and a parameter longer than the message can hold
        # is left out whole with those after it); a 10 MB value no longer takes seconds.
        params = self.params(sig, limit)
        text = _text(sig)
        if limit is not None and len(text) > limit and text.isascii():
            text = text[:limit]  # (the BOM says whether the text is ASCII: kept whole otherwise)
        text = escape_msg(text)
        body = text.encode("utf-8", "backslashreplace")
        if self.bom and len(body) != len(text):  # not plain ASCII: MSG-UTF8, marked by the BOM
            body = _BOM + body
        sd = f"[{self.sd_id}{''.join(params)}]" if params else "-"
        out = (head + sd).encode("utf-8", "backslashreplace")
        if body:
            out += b" " + body
        if limit is None or len(out) <= limit:
            return out, False
        return self._truncate(head, params, body, limit), True

    def _truncate(self, head: str, params: list[str], body: bytes, limit: int) -> bytes:
        # Cut the message text first; if the header and structured data alone are too long,
        # drop parameters from the end (keeping the SD element well formed), and only as a
        # last resort cut what is left at a character boundary. The text then ends with the
        # mark, so that a reader knows there was more.
        head_b = head.encode("ascii")
        room = limit - len(_MARK) - 1  # the space before the text, the mark after it
        encoded = [p.encode("utf-8", "backslashreplace") for p in params]
        sd_open = b"[" + self.sd_id.encode("ascii")
        size = len(head_b) + len(sd_open) + sum(map(len, encoded)) + 1
        while encoded and size > room:
            size -= len(encoded.pop())
        sd = sd_open + b"".join(encoded) + b"]" if encoded else b"-"
        out = head_b + sd
        text = b""
        if body and room - len(out) > 0:
            text = truncate_utf8(body, room - len(out))
            if text == _BOM:
                text = b""
        if len(out) > room:  # the header alone is too long: nothing but the mark is whole
            return truncate_utf8(out, limit - len(_MARK) - 1) + b" " + _MARK
        return out + b" " + text + _MARK


class Rfc3164Formatter(_Base):
    """``<PRI>Mmm dd HH:MM:SS [HOSTNAME ]TAG[PID]: MSG key=value ...``, as glibc's syslog(3).

    The timestamp is local time with English month names, whatever the locale. Without a
    hostname (``include_hostname=False``, right for ``/dev/log``) it is exactly what glibc
    writes, which journald and rsyslog's local input parse. ``ctx`` and ``data`` follow the
    message as logfmt-style pairs; a signal without a message shows its id.
    """

    def __init__(
        self,
        *,
        facility: int,
        app_name: str,
        hostname: str | None = None,
        include_hostname: bool = False,
    ) -> None:
        super().__init__(facility=facility, app_name=app_name, hostname=hostname)
        self.include_hostname = include_hostname
        self._sec = -1
        self._sec_text = ""

    def timestamp(self, inst: int) -> str:
        """``Mmm dd HH:MM:SS`` in local time, the day padded with a space (``Aug  7``)."""
        sec = inst // 1_000_000_000
        if sec != self._sec:
            t = time.localtime(sec)
            self._sec = sec
            self._sec_text = (
                f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} "
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            )
        return self._sec_text

    def pair(self, key: Any, v: Any, limit: int | None = None) -> str:
        """``key=value``; a value with a space, ``=`` or ``"`` is quoted with ``\\`` escapes. A
        value longer than ``limit`` is cut to that many characters (see `format`)."""
        text = v if type(v) is str else self.value(v, limit)
        quote = not text or _NEEDS_QUOTES(text) is not None  # escaping adds none of those
        if not quote and limit is not None and type(v) in _HEADED and len(text) > limit:
            # Only the start of the JSON, which says nothing of quotes further on: the whole
            # decides (base64 and a dict's keys are quoted from their first character).
            text = self.value(v)
            quote = _NEEDS_QUOTES(text) is not None
        if limit is not None and len(text) > limit:
            text = text[:limit]
        s = escape_msg(text)
        if quote:
            s = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        name = self._names.get(key) if type(key) is str else None
        return f"{name if name is not None else self.param_name(key)}={s}"

    def format(self, sig: Signal, limit: int | None = None) -> tuple[bytes, bool]:
        """The message, and whether it was truncated to ``limit`` bytes."""
        host = f"{self.host(sig)} " if self.include_hostname else ""
        pid = f"[{sig.pid}]" if sig.pid else ""
        head = f"{self.pri(sig)}{self.timestamp(sig.inst)} {host}{self.app_name}{pid}: "
        # Text and values longer than ``limit`` are cut to ``limit`` characters before they
        # are escaped: the message is cut to ``limit`` bytes anyway, and nothing before the cut
        # changes (quoting is decided on the whole value).
        text = _text(sig) or sig.id or sig.kind
        if limit is not None and len(text) > limit:
            text = text[:limit]
        parts = [escape_msg(text)]
        parts.extend(self.pair(k, v, limit) for k, v in _items(sig))
        out = (head + " ".join(parts)).encode("utf-8", "backslashreplace")
        if limit is None or len(out) <= limit:
            return out, False
        return truncate_utf8(out, limit - len(_MARK)) + _MARK, True
