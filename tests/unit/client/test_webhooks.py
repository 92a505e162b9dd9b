"""Webhook signatures (HMAC-SHA256 over "<t>." + body) and payload parsing."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moxtrace import webhooks
from moxtrace.webhooks import parse, sign, verify_signature

BODY = b'{"id":"evt_1","type":"commit.created"}'
NOW = 1_714_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign(BODY, "whsec_a", timestamp=NOW)
    expected = hmac.new(b"whsec_a", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_a_good_signature_verifies() -> None:
    header = sign(BODY, "whsec_a", timestamp=NOW)
    assert verify_signature(BODY, header, "whsec_a", now=NOW + 10)
    assert verify_signature(BODY.decode(), header, b"whsec_a", now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "t=abc,v1=00",
        f"t={NOW}",
        "v1=00",
        f"t={NOW},v0=00",
        f"t={NOW},v1=" + "0" * 64,
        "t=\u00b2,v1=00",
    ],
)
def test_missing_or_malformed_headers_fail(header: str | None) -> None:
    assert not verify_signature(BODY, header, "whsec_a", now=NOW)


def test_a_wrong_secret_or_a_changed_body_fails() -> None:
    header = sign(BODY, "whsec_a", timestamp=NOW)
    assert not verify_signature(BODY, header, "whsec_b", now=NOW)
    assert not verify_signature(BODY + b" ", header, "whsec_a", now=NOW)


def test_stale_and_future_timestamps_fail_outside_the_tolerance() -> None:
    header = sign(BODY, "whsec_a", timestamp=NOW)
    assert verify_signature(BODY, header, "whsec_a", now=NOW + 300)
    assert not verify_signature(BODY, header, "whsec_a", now=NOW + 301)
    assert not verify_signature(BODY, header, "whsec_a", now=NOW - 301)
    assert verify_signature(BODY, header, "whsec_a", tolerance=1000, now=NOW + 900)
    assert verify_signature(BODY, header, "whsec_a", tolerance=None, now=NOW + 10**6)


def test_the_default_tolerance_uses_the_clock() -> None:
    assert verify_signature(BODY, sign(BODY, "whsec_a"), "whsec_a")
    assert not verify_signature(BODY, sign(BODY, "whsec_a", timestamp=NOW), "whsec_a")


def test_rotation_any_listed_secret_and_any_v1_may_match() -> None:
    both = sign(BODY, ["whsec_new", "whsec_old"], timestamp=NOW)
    assert both.count("v1=") == 2
    assert verify_signature(BODY, both, "whsec_old", now=NOW)
    assert verify_signature(BODY, both, "whsec_new", now=NOW)
    only_old = sign(BODY, "whsec_old", timestamp=NOW)
    assert verify_signature(BODY, only_old, ["whsec_new", "whsec_old"], now=NOW)
    assert not verify_signature(BODY, only_old, ["whsec_new", "whsec_other"], now=NOW)
    assert not verify_signature(BODY, only_old, [], now=NOW)


def test_sign_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, [])


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40), st.integers(0, 10**12 - 1))
def test_round_trip_and_tamper(body: bytes, secret: str, t: int) -> None:
    header = sign(body, secret, timestamp=t)
    assert verify_signature(body, header, secret, now=t)
    assert not verify_signature(body + b"x", header, secret, now=t)


def test_parse_a_commit_event() -> None:
    task_id, branch_id, prompt_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    payload = orjson.dumps(
        {
            "id": "evt_" + "a" * 32,
            "type": "commit.created",
            "created_at": NOW,
            "tenant_id": "dev",
            "data": {
                "task_id": str(task_id),
                "branch_id": str(branch_id),
                "branch_name": "main",
                "commit_id": "c" * 32,
                "parent_commit_id": None,
                "message": "m",
                "committed_at": "2024-04-25T00:00:00Z",
                "prompt_ids": [str(prompt_id)],
                "added_later": True,
            },
        }
    )
    event = parse(payload)
    assert event.type == webhooks.COMMIT_CREATED
    assert event.created_at == NOW
    assert event.commit is not None
    assert event.commit.task_id == task_id
    assert event.commit.branch_name == "main"
    assert event.commit.prompt_ids == [prompt_id]
    assert event.raw["data"]["added_later"] is True
    assert parse(orjson.loads(payload)).commit == event.commit


def test_parse_keeps_unknown_event_types_untyped() -> None:
    event = parse('{"id": "evt_2", "type": "prompt.deleted", "created_at": 1, "data": {"x": 1}}')
    assert event.commit is None
    assert event.data == {"x": 1}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "commit.created", "created_at": 1}', "id"),
        (b'{"id": "e", "type": "commit.created", "created_at": 1, "data": {}}', "task_id"),
    ],
)
def test_parse_rejects_what_is_not_a_moxn_payload(payload: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(payload)
