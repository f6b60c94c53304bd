"""Metrics: measurements aggregated in-process, read out by a pull or pushed on an interval.

The third kind of signal does not travel as one signal per measurement: an instrument adds
each measurement to the running aggregate of its attribute set (a sum, a last value or an
explicit-bucket histogram), and readers take snapshots of every aggregate when they are asked
(a Prometheus scrape) or on an interval (the OTLP sink). The parts, each in a module of its
own, import nothing of OpenTelemetry; ``telemetry.integrations._otel_metrics`` puts the
OpenTelemetry metrics API in front of them.

- ``_attributes``: cleaning an attribute set and the frozen key it is stored under;
- ``_series``: the aggregates (sum, last value, histogram) of one attribute set;
- ``_instruments``: synchronous instruments, their fast path and the cardinality limit;
- ``_observable``: observable instruments and running their callbacks within a deadline;
- ``_state``: the process-wide registry of instruments, and what it dropped;
- ``_reader``: a snapshot of every instrument, cumulative or delta;
- ``_naming``: OpenTelemetry names in Prometheus spelling;
- ``_http``: the HTTP server metrics the ASGI middleware records.

Where the state lives. The OpenTelemetry API's global meter provider is set once per process,
and libraries (FastAPI's native telemetry among them) create their instruments once and keep
them; hubs come and go (tests open and close many). So the instruments and their aggregates are
process-wide, outlive every hub, and never need one: a measurement made while no hub is open
is aggregated like any other. Exporters read the state: a Prometheus collector when scraped,
each OTLP sink on its interval while its hub is open.
"""
