"""OpenTelemetry names in Prometheus spelling."""

from __future__ import annotations

import pytest

from telemetry._metrics._naming import label_name, metric_name, unit_suffix


@pytest.mark.parametrize(
    ("name", "unit", "kind", "monotonic", "expected"),
    [
        (
            "http.server.request.duration",
            "s",
            "histogram",
            False,
            "http_server_request_duration_seconds",
        ),
        ("http.server.active_requests", "{request}", "sum", False, "http_server_active_requests"),
        ("orders", "{order}", "sum", True, "orders"),
        ("process.memory.usage", "By", "sum", False, "process_memory_usage_bytes"),
        ("cpu.utilization", "1", "gauge", False, "cpu_utilization_ratio"),
        ("hits", "1", "sum", True, "hits"),
        ("requests_total", "", "sum", True, "requests"),
        ("latency_seconds", "s", "histogram", False, "latency_seconds"),
        ("throughput", "By/s", "gauge", False, "throughput_bytes_per_second"),
        ("9lives", "", "gauge", False, "_9lives"),
        ("a..b--c", "ms", "gauge", False, "a_b_c_milliseconds"),
    ],
)
def test_metric_names(name: str, unit: str, kind: str, monotonic: bool, expected: str) -> None:
    """Invalid characters become one _, the unit a suffix once, counters lose _total (the
    sample adds it back), a gauge in 1 is a ratio."""
    assert metric_name(name, unit, kind=kind, monotonic=monotonic) == expected


def test_label_names_and_suffixes() -> None:
    """Attribute keys become valid labels; annotations alone add no suffix."""
    assert label_name("http.request.method") == "http_request_method"
    assert label_name("__x") == "_x"  # never the reserved __ prefix
    assert unit_suffix("{packet}", gauge=False) == ""
