"""Where signals go. Every sink is an async resource driven by one handler.

- [`FileSink`][telemetry.sinks.FileSink]: JSON lines (or text / logfmt) appended to a file.
- [`ConsoleSink`][telemetry.sinks.ConsoleSink]: readable and coloured on a terminal, JSON
  lines otherwise.
- [`JournaldSink`][telemetry.sinks.JournaldSink]: the systemd journal, over its native protocol.
- [`MemorySink`][telemetry.sinks.MemorySink]: a list, for tests and examples.
- [`OTLPSink`][telemetry.sinks.OTLPSink]: OTLP over HTTP, to an OpenTelemetry Collector or any
  backend that speaks it (the optional extra ``aiotelemetry[otlp]``).
- [`SyslogSink`][telemetry.sinks.SyslogSink]: syslog over the local socket, UDP, TCP or TLS
  (RFC 5424 / RFC 3164).
- [`Sink`][telemetry.sinks.Sink]: the base class for writing your own.
"""

from ._base import Sink, SinkState
from .console import ConsoleSink
from .file import FileSink
from .journald import JournaldSink
from .memory import MemorySink
from .otlp import OTLPSink
from .syslog import SyslogSink

__all__ = [
    "ConsoleSink",
    "FileSink",
    "JournaldSink",
    "MemorySink",
    "OTLPSink",
    "Sink",
    "SinkState",
    "SyslogSink",
]
