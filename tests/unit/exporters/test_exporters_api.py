"""The public names of ``moxtrace.exporters``."""

from __future__ import annotations

import moxtrace.exporters


def test_exported_names_exist_and_are_documented() -> None:
    assert sorted(moxtrace.exporters.__all__) == [
        "ExportStats",
        "MoxnSpanExporter",
        "RetryPolicy",
        "WithoutContent",
        "span_to_events",
        "span_to_wire",
    ]
    for name in moxtrace.exporters.__all__:
        assert getattr(moxtrace.exporters, name).__doc__, name
