"""Parsing ingest bodies: errors name the field."""

from __future__ import annotations

import pytest

from moxtrace.server.errors import ApiError
from moxtrace.server.payloads import field_path, parse_event, parse_events

GOOD = (
    b'{"event_type":"span_start","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
    b'"span_id":"00f067aa0ba902b7"}'
)


def message(body: bytes, single: bool = False) -> str:
    with pytest.raises(ApiError) as caught:
        (parse_event if single else parse_events)(body)
    assert caught.value.status_code == 400
    return caught.value.message


def test_field_paths() -> None:
    assert field_path(("events", 3, "trace_id")) == "events[3].trace_id"
    assert field_path(("trace_id",), "events[2]") == "events[2].trace_id"
    assert field_path(()) == "body"


def test_good_bodies() -> None:
    event, raw = parse_event(GOOD)
    assert event.trace_id == raw["trace_id"]
    assert len(parse_events(b'{"events": [' + GOOD + b"," + GOOD + b"]}")) == 2


@pytest.mark.parametrize(
    ("body", "start"),
    [
        (b"", "body: malformed JSON"),
        (b'{"events": [', "body: malformed JSON"),
        (b'{"a": NaN}', "body: malformed JSON"),
        (b'"\\ud800"', "body: malformed JSON"),
        (b"[]", "body: expected a JSON object"),
        (b"{}", "events: required"),
        (b'{"events": [1]}', "events[0]: expected a JSON object"),
        (
            b'{"events": [' + GOOD + b', {"event_type": "span_end"}]}',
            "events[1].trace_id: Field required",
        ),
        (
            b'{"events": [{"event_type":"span_start","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
            b'"span_id":"00f067aa0ba902b7","sequence_number":18446744073709551615}]}',
            "events[0].sequence_number: must be at most",
        ),
        (
            b'{"events": [{"event_type":"span_start","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
            b'"span_id":"00f067aa0ba902b7","content_storage_key":"../etc"}]}',
            "events[0].content_storage_key:",
        ),
    ],
)
def test_bad_batches_name_the_field(body: bytes, start: str) -> None:
    assert message(body).startswith(start)


def test_a_single_event_names_fields_without_a_prefix() -> None:
    assert message(b'{"event_type": "span_start"}', single=True).startswith("trace_id:")
    both = GOOD[:-1] + b',"commit_id":"c1","branch_id":"7a3c7a8e-1f64-4c5e-8d0f-3f0c2c1f9b11"}'
    assert "commit_id or branch_id" in message(both, single=True)


def test_details_list_several_problems() -> None:
    with pytest.raises(ApiError) as caught:
        parse_events(b'{"events": [{"event_type": "nope"}]}')
    fields = {d["field"] for d in caught.value.details}
    assert {"events[0].event_type", "events[0].trace_id", "events[0].span_id"} <= fields
    assert "more)" in caught.value.message
