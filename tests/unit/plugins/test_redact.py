"""``redact``: every built-in kind, in attributes, events, links, names, resources and
message content (which stays valid JSON); denylists; options and their errors."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event
from opentelemetry.trace import Link, SpanContext, StatusCode

from collector_plugins.redact import RedactPlugin, luhn_valid
from moxtrace.pipeline.config import PluginOptionError
from tests.unit.plugins.spans import make_span, recorded

# (kind, text containing a secret, the same text as redacted with the default mask)
CASES: list[tuple[str, str, str]] = [
    (
        "openai_api_key",
        "key: sk-proj-Abc123def456GHI789jkl012MNO345pqr678 in use",
        "key: [REDACTED:openai_api_key] in use",
    ),
    (
        "openai_api_key",
        "legacy sk-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl.",
        "legacy [REDACTED:openai_api_key].",
    ),
    (
        "anthropic_api_key",
        "ANTHROPIC sk-ant-api03-Abc123def456GHI789jkl012MNO345pqr678-xyzXYZ_AA here",
        "ANTHROPIC [REDACTED:anthropic_api_key] here",
    ),
    (
        "google_api_key",
        "maps AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe key",
        "maps [REDACTED:google_api_key] key",
    ),
    ("aws_access_key_id", "id=AKIAIOSFODNN7EXAMPLE;", "id=[REDACTED:aws_access_key_id];"),
    (
        "moxn_api_key",
        "x-api-key moxn_acme.0123abcdEFGHijklMNOPqrst_uvw ok",
        "x-api-key [REDACTED:moxn_api_key] ok",
    ),
    (
        "jwt",
        "session eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6Ikpv"
        "aG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c end",
        "session [REDACTED:jwt] end",
    ),
    (
        "bearer_token",
        "Authorization: Bearer 7f3c9a1e2b4d6f8a0c1e3b5d7f9a1c3e",
        "Authorization: Bearer [REDACTED:bearer_token]",
    ),
    (
        "credential",
        "connect with api_key=hunter2secret&x=1",
        "connect with api_key=[REDACTED:credential]&x=1",
    ),
    ("credential", "password: 'p@ssw0rd!'", "password: '[REDACTED:credential]'"),
    ("credential", 'OPENAI_TOKEN="tok_live_1234"', 'OPENAI_TOKEN="[REDACTED:credential]"'),
    (
        "email",
        "write to bob.smith+tag@example.co.uk today",
        "write to [REDACTED:email] today",
    ),
    ("card_number", "card 4111 1111 1111 1111 exp", "card [REDACTED:card_number] exp"),
    ("card_number", "mc 5500-0000-0000-0004.", "mc [REDACTED:card_number]."),
    ("card_number", "amex 378282246310005", "amex [REDACTED:card_number]"),
]
IDS = [f"{kind}-{i}" for i, (kind, _, _) in enumerate(CASES)]


def only(plugin: RedactPlugin, **attributes: Any) -> dict[str, Any]:
    [span] = plugin.process([make_span(attributes)])
    return dict(span.attributes or {})


@pytest.mark.parametrize(("kind", "text", "expected"), CASES, ids=IDS)
def test_every_kind_is_masked_in_span_attributes(kind: str, text: str, expected: str) -> None:
    plugin = RedactPlugin()
    attrs = only(plugin, note=text, count=3)
    assert attrs["note"] == expected
    assert attrs["count"] == 3
    assert plugin.counts() == {kind: 1, "spans": 1}


@pytest.mark.parametrize(("kind", "text", "expected"), CASES, ids=IDS)
def test_every_kind_is_masked_in_event_and_link_attributes(
    kind: str, text: str, expected: str
) -> None:
    link_context = SpanContext(0x1, 0x2, is_remote=False)
    span = make_span(
        {"ok": "nothing here"},
        events=[Event("exception", {"exception.message": text, "exception.type": "E"}, 1)],
        links=[Link(link_context, {"why": text})],
    )
    [out] = RedactPlugin().process([span])
    assert out.events[0].attributes == {"exception.message": expected, "exception.type": "E"}
    assert out.events[0].name == "exception"
    assert out.events[0].timestamp == 1
    assert out.links[0].attributes == {"why": expected}
    assert out.links[0].context == link_context
    assert out.attributes == {"ok": "nothing here"}


@pytest.mark.parametrize(("kind", "text", "expected"), CASES, ids=IDS)
def test_every_kind_is_masked_inside_llm_message_content_keeping_valid_json(
    kind: str, text: str, expected: str
) -> None:
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": text}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "lookup",
                    "arguments": {"query": text, "limit": 5},
                }
            ],
        },
    ]
    system = [{"type": "text", "content": f"Context: {text}"}]
    plugin = RedactPlugin()
    attrs = only(
        plugin,
        **{
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.system_instructions": json.dumps(system),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": text}],
                        "finish_reason": "stop",
                    }
                ]
            ),
        },
    )
    got = json.loads(attrs["gen_ai.input.messages"])
    assert got[0]["parts"][0]["content"] == expected
    assert got[1]["parts"][0]["arguments"] == {"query": expected, "limit": 5}
    assert got[1]["parts"][0]["id"] == "call_1"
    assert json.loads(attrs["gen_ai.system_instructions"])[0]["content"] == f"Context: {expected}"
    output = json.loads(attrs["gen_ai.output.messages"])
    assert output == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": expected}],
            "finish_reason": "stop",
        }
    ]
    assert plugin.counts()[kind] == 4


def test_json_inside_json_strings_is_redacted_and_stays_json() -> None:
    arguments = json.dumps({"email": "ann@example.org", "note": "call me"})
    messages = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c", "name": "send", "arguments": arguments}],
        }
    ]
    attrs = only(RedactPlugin(), **{"gen_ai.output.messages": json.dumps(messages)})
    inner = json.loads(json.loads(attrs["gen_ai.output.messages"])[0]["parts"][0]["arguments"])
    assert inner == {"email": "[REDACTED:email]", "note": "call me"}


def test_a_mask_with_quotes_and_backslashes_keeps_json_valid() -> None:
    plugin = RedactPlugin(mask='"\\{kind}"')
    content = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "bob@x.io"}]}])
    attrs = only(plugin, **{"gen_ai.input.messages": content})
    assert json.loads(attrs["gen_ai.input.messages"])[0]["parts"][0]["content"] == '"\\email"'


def test_numbers_that_fail_luhn_or_do_not_start_like_cards_are_kept() -> None:
    plugin = RedactPlugin()
    text = "order 4111 1111 1111 1112, ts 1735000000000123, id 9999999999999995"
    assert not luhn_valid("4111111111111112")
    assert only(plugin, note=text)["note"] == text
    assert plugin.counts() == {}


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_spans_without_secrets_are_passed_through_as_the_same_objects() -> None:
    spans = [make_span({"gen_ai.usage.input_tokens": 10, "http.route": "/orders/{id}"})]
    assert RedactPlugin().process(spans)[0] is spans[0]


def test_redaction_is_idempotent() -> None:
    plugin = RedactPlugin()
    [once] = plugin.process([make_span({"a": CASES[0][1], "b": CASES[12][1]})])
    [twice] = plugin.process([once])
    assert twice is once
    assert plugin.counts() == {"openai_api_key": 1, "card_number": 1, "spans": 1}


def test_denied_attribute_names_are_masked_whole_and_ignored_ones_untouched() -> None:
    plugin = RedactPlugin(deny_attributes=["app.customer.*"], ignore_attributes=["user.email"])
    attrs = only(
        plugin,
        **{
            "http.request.header.authorization": ("Basic dXNlcjpwYXNz",),
            "HTTP.Request.Header.Cookie": ("a=1", "b=2"),
            "db.password": "short",
            "app.customer.phone": "+1 555 0100",
            "app.customer.age": 42,
            "user.email": "keep@example.com",
            "other": "plain",
        },
    )
    assert attrs["http.request.header.authorization"] == ("[REDACTED:attribute]",)
    assert attrs["HTTP.Request.Header.Cookie"] == ("[REDACTED:attribute]",) * 2
    assert attrs["db.password"] == "[REDACTED:attribute]"
    assert attrs["app.customer.phone"] == "[REDACTED:attribute]"
    assert attrs["app.customer.age"] == "[REDACTED:attribute]"
    assert attrs["user.email"] == "keep@example.com"
    assert attrs["other"] == "plain"
    assert plugin.counts()["attribute"] == 5


def test_default_denylist_can_be_turned_off() -> None:
    plugin = RedactPlugin(default_deny_attributes=False)
    attrs = only(plugin, **{"db.password": "short"})
    assert attrs["db.password"] == "short"


def test_denied_json_keys_are_masked_in_content() -> None:
    arguments = {"username": "ann", "password": "hunter2", "nested": {"ApiKey": 123}, "ssn": "x"}
    messages = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c", "name": "login", "arguments": arguments}],
        }
    ]
    plugin = RedactPlugin(deny_keys=["SSN"])
    attrs = only(plugin, **{"gen_ai.output.messages": json.dumps(messages)})
    got = json.loads(attrs["gen_ai.output.messages"])[0]["parts"][0]["arguments"]
    assert got == {
        "username": "ann",
        "password": "[REDACTED:field]",
        "nested": {"ApiKey": "[REDACTED:field]"},
        "ssn": "[REDACTED:field]",
    }


def test_custom_patterns_secret_groups_mask_format_and_disable() -> None:
    plugin = RedactPlugin(
        mask="<{kind}>",
        patterns={"ticket": r"TICKET-\d{6}", "pin": r"PIN (?P<secret>\d{4})"},
        disable=["email"],
    )
    attrs = only(plugin, note="TICKET-123456 PIN 1234 for bob@example.com")
    assert attrs["note"] == "<ticket> PIN <pin> for bob@example.com"
    assert plugin.mask_for("email") == "<email>"


def test_span_name_status_description_and_resource_are_redacted() -> None:
    span = make_span(
        {},
        name="GET /users/bob@example.com",
        error=True,
        status_description="login failed for bob@example.com",
        resource={
            "service.name": "billing",
            "process.command_line": "python app.py --api-key sk-abcdefghijklmnopqrstu1234",
        },
    )
    plugin = RedactPlugin()
    [out] = plugin.process([span])
    assert out.name == "GET /users/[REDACTED:email]"
    assert out.status.status_code is StatusCode.ERROR
    assert out.status.description == "login failed for [REDACTED:email]"
    assert out.resource.attributes["service.name"] == "billing"
    assert out.resource.attributes["process.command_line"] == (
        "python app.py --api-key [REDACTED:openai_api_key]"
    )
    assert out.context == span.context
    assert (out.start_time, out.end_time) == (span.start_time, span.end_time)
    assert out.instrumentation_scope == span.instrumentation_scope

    keep = RedactPlugin(span_names=False, resource=False)
    [kept] = keep.process([span])
    assert kept is span


def test_one_resource_is_redacted_once_and_shared() -> None:
    resource = Resource({"service.name": "x", "host.user": "ops@example.com"})
    plugin = RedactPlugin()
    out = plugin.process([make_span({"i": i}, resource=resource) for i in range(2)])
    out += plugin.process([make_span({"i": 2}, resource=resource)])
    assert out[0].resource is out[1].resource is out[2].resource
    assert out[0].resource.attributes["host.user"] == "[REDACTED:email]"


def test_spans_of_another_instrumentation_are_redacted_everywhere() -> None:
    """A span OpenInference recorded: flattened messages and the raw request JSON."""
    _, [span] = recorded("openinference_openai")
    plugin = RedactPlugin()
    [out] = plugin.process([span])
    attrs = out.attributes
    text = "my key is [REDACTED:openai_api_key] and mail [REDACTED:email]"
    assert attrs["llm.input_messages.1.message.content"] == text
    request = json.loads(attrs["input.value"])
    assert request["messages"][1]["content"] == text
    assert request["model"] == "gpt-4o-mini"
    assert "sk-proj" not in json.dumps(dict(attrs))
    assert "bob@example.com" not in json.dumps(dict(attrs))
    assert attrs["llm.token_count.prompt"] == 1200
    assert plugin.counts() == {"openai_api_key": 2, "email": 2, "spans": 1}


def test_odd_values_never_raise() -> None:
    span = make_span(
        {
            "bytes": b"bob@example.com",
            "floats": (1.5, 2.5),
            "empty": "",
            "bools": (True, False),
            "broken_json": '{"a": "bob@example.com"',
            "mixed": ("x", "bob@example.com"),
            "nested": {"inner": "bob@example.com", "n": 1},
        }
    )
    [out] = RedactPlugin().process([span, make_span(None)])[:1]
    attrs = out.attributes
    assert attrs["bytes"] == b"bob@example.com"
    assert attrs["broken_json"] == '{"a": "[REDACTED:email]"'
    assert attrs["mixed"] == ("x", "[REDACTED:email]")
    assert attrs["nested"] == {"inner": "[REDACTED:email]", "n": 1}
    assert attrs["floats"] == (1.5, 2.5)


def test_long_values_are_scanned_in_linear_time() -> None:
    # A pattern that backtracked over long runs would take minutes here.
    blob = "a" * 400_000 + "-" + "1" * 200_000 + "." * 100_000
    plugin = RedactPlugin()
    started = time.monotonic()
    only(plugin, blob=blob, json_blob=json.dumps([blob]))
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("options", "option", "words"),
    [
        ({"mask": "[{secret}]"}, "mask", "{kind}"),
        ({"mask": "[{kind"}, "mask", "not a valid format"),
        ({"patterns": {"bad": "("}}, "patterns.bad", "invalid regex"),
        ({"patterns": {"empty": "x*"}}, "patterns.empty", "empty string"),
        ({"patterns": {"sp ace": "x"}}, "patterns.sp ace", "a kind is"),
        ({"disable": ["emails"]}, "disable", "emails"),
        ({"span_names": "maybe"}, "span_names", "boolean"),
        ({"masks": "x"}, "masks", "unknown option"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], option: str, words: str) -> None:
    with pytest.raises(PluginOptionError) as info:
        RedactPlugin(**options)
    assert info.value.option == option
    assert info.value.plugin == "redact"
    assert words in str(info.value)
