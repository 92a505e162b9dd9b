"""``redact``: masks secrets and personal data in every span before it goes anywhere.

What is masked, wherever it appears in a string — span attributes, event attributes
(exception messages and stack traces included), link attributes, the span name, the
status description and resource attributes (``process.command_line`` can carry an API
key) — of every span, moxtrace's or any other instrumentation's:

===================== ==================================================================
kind                  what
===================== ==================================================================
``anthropic_api_key`` ``sk-ant-…``
``openai_api_key``    ``sk-…``, ``sk-proj-…``, ``sk-svcacct-…`` (20+ characters, a digit)
``google_api_key``    ``AIza`` + 35 characters
``aws_access_key_id`` ``AKIA…`` / ``ASIA…`` + 16 upper-case letters or digits
``moxn_api_key``      ``moxn_<tenant>.<secret>``
``jwt``               ``eyJ….eyJ….…`` (a JSON Web Token)
``bearer_token``      the token after ``Bearer `` (16+ characters)
``credential``        the value in ``api_key=…``, ``token: …``, ``"password": "…"``,
                      ``client_secret=…`` and similar pairs
``email``             e-mail addresses
``card_number``       13 to 19 digits (spaces or dashes allowed) starting 2-6 that pass the
                      Luhn check
===================== ==================================================================

plus the ``patterns`` you add (``{kind: regex}``; a ``(?P<secret>…)`` group masks only
that part). Two denylists mask whole values regardless of what they look like:
attribute names (``deny_attributes``, glob patterns such as
``http.request.header.authorization``; kind ``attribute``) and keys of JSON objects
inside attribute values (``deny_keys``, such as ``password``; kind ``field``).

LLM message content (``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``, ``gen_ai.tool.definitions``) is JSON in a string, and so
are OpenInference's ``input.value``/``output.value``: any string value that is a JSON
object or array is parsed, redacted inside its string values (JSON nested in a string,
like tool-call arguments, too) and written back as valid JSON. Masks never make JSON
invalid, whatever the mask format.

Options (all optional)::

    mask: "[REDACTED:{kind}]"   # {kind} is replaced by the kind of what was masked
    patterns: {ticket_id: "TICKET-[0-9]{6}"}
    disable: [email]            # built-in kinds not to mask
    deny_attributes: ["user.phone", "app.secret.*"]
    default_deny_attributes: true   # also mask auth/cookie headers, *password*, *api_key*
    deny_keys: ["ssn"]
    default_deny_keys: true         # also mask JSON values under password, api_key, ...
    ignore_attributes: ["user.email"]   # never touched (globs)
    span_names: true            # also redact span names and status descriptions
    resource: true              # also redact resource attributes

Numbers and booleans are never scanned (a card number sent as an integer attribute is
not found); a value under a denied name is masked whatever its type.
``counts()`` says how many values of each kind were masked, and in how many spans.
"""

from __future__ import annotations

import fnmatch
import json
import re
import string
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status
from pydantic import BaseModel, ConfigDict

from moxtrace.pipeline.config import PluginOptionError, parse_options
from moxtrace.pipeline.plugin import CollectorPlugin

__all__ = [
    "BUILTIN_PATTERNS",
    "DEFAULT_DENY_ATTRIBUTES",
    "DEFAULT_DENY_KEYS",
    "RedactOptions",
    "RedactPlugin",
    "luhn_valid",
]

_KEY_CHARS = r"[A-Za-z0-9_-]"
BUILTIN_PATTERNS: Final[dict[str, str]] = {
    "anthropic_api_key": rf"(?<!{_KEY_CHARS})sk-ant-{_KEY_CHARS}{{20,300}}",
    "openai_api_key": rf"(?<!{_KEY_CHARS})sk-{_KEY_CHARS}{{20,300}}",
    "google_api_key": rf"(?<!{_KEY_CHARS})AIza{_KEY_CHARS}{{35}}(?!{_KEY_CHARS})",
    "aws_access_key_id": r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])",
    "moxn_api_key": (
        rf"(?<!{_KEY_CHARS})moxn_[A-Za-z0-9]{_KEY_CHARS}{{0,62}}\.{_KEY_CHARS}{{16,128}}"
    ),
    "jwt": (
        rf"(?<!{_KEY_CHARS})eyJ{_KEY_CHARS}{{4,8192}}\.eyJ{_KEY_CHARS}{{4,8192}}"
        rf"\.{_KEY_CHARS}{{0,8192}}"
    ),
    "bearer_token": r"(?i:\bbearer)\s{1,8}(?P<secret>[A-Za-z0-9._~+/-]{16,4096}=*)",
    "credential": (
        r"(?i:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret"
        r"|access[_-]?token|refresh[_-]?token|auth[_-]?token|id[_-]?token|token|secret"
        r"|password|passwd)"
        r"[\"']?\s{0,4}[:=]\s{0,4}[\"']?(?P<secret>[^\s\"'&,;<>{}\[\]]{3,512})"
    ),
    "email": (
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}"
        r"[A-Za-z]{2,24}(?![A-Za-z0-9-])"
    ),
    "card_number": r"[2-6](?<![0-9A-Za-z][2-6])(?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])",
}
"""The built-in kinds and their regular expressions (``secret`` groups: only that part is
masked). Order matters where two could start at the same place: the first wins."""

DEFAULT_DENY_ATTRIBUTES: Final = (
    "http.request.header.authorization",
    "http.request.header.proxy-authorization",
    "http.request.header.cookie",
    "http.request.header.x-api-key",
    "http.response.header.set-cookie",
    "*password*",
    "*passwd*",
    "*api_key*",
    "*api-key*",
    "*apikey*",
    "*client_secret*",
)
"""Attribute names (globs, case-insensitive) whose values are masked whole by default."""

DEFAULT_DENY_KEYS: Final = (
    "password",
    "passwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "x_api_key",
    "access_token",
    "refresh_token",
    "authorization",
    "private_key",
)
"""JSON object keys (case-insensitive, ``-`` same as ``_``) whose values are masked."""

_ATTRIBUTE_KIND = "attribute"
_KEY_KIND = "field"
_SPANS_KIND = "spans"
_MAX_JSON_DEPTH = 3
_POLICY_CACHE_SIZE = 8192
_RESOURCE_CACHE_SIZE = 256
_SCAN, _DENY, _IGNORE = 0, 1, 2
_KIND_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum (card numbers do)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = "".join(c for c in text if c.isdigit())
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


_CHECKS: Final = {"card_number": _card_ok, "openai_api_key": _has_digit}
# Substrings without which a built-in pattern cannot match (``str.__contains__`` is far
# cheaper than a regex scan): (needles, whether to look in the lower-cased text).
_NEEDLES: Final[dict[str, tuple[tuple[str, ...], bool]]] = {
    "anthropic_api_key": (("sk-ant-",), False),
    "openai_api_key": (("sk-",), False),
    "google_api_key": (("AIza",), False),
    "aws_access_key_id": (("AKIA", "ASIA", "ABIA", "ACCA"), False),
    "moxn_api_key": (("moxn_",), False),
    "jwt": (("eyJ",), False),
    "bearer_token": (("bearer",), True),
    "credential": (("key", "token", "secret", "passw"), True),
    "email": (("@",), False),
}


class RedactOptions(BaseModel):
    """The options of ``redact`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mask: str = "[REDACTED:{kind}]"
    patterns: dict[str, str] = {}
    disable: list[str] = []
    deny_attributes: list[str] = []
    default_deny_attributes: bool = True
    deny_keys: list[str] = []
    default_deny_keys: bool = True
    ignore_attributes: list[str] = []
    span_names: bool = True
    resource: bool = True


class _Pattern:
    __slots__ = ("check", "kind", "lower", "needles", "regex", "secret")

    def __init__(self, kind: str, regex: re.Pattern[str], *, builtin: bool = False) -> None:
        self.kind = kind
        self.regex = regex
        self.secret = "secret" in regex.groupindex
        self.check = _CHECKS.get(kind) if builtin else None
        self.needles, self.lower = _NEEDLES.get(kind, ((), False)) if builtin else ((), False)


def _globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in patterns))


def _key_name(key: str) -> str:
    return key.lower().replace("-", "_")


class RedactPlugin(CollectorPlugin):
    """Masks secrets and PII in every span (see the module docstring for what and how).

    >>> plugin = RedactPlugin(patterns={"ticket": "TICKET-[0-9]{6}"})
    >>> [span] = plugin.process([span_with({"note": "mail bob@example.com"})])
    >>> span.attributes["note"]
    'mail [REDACTED:email]'
    """

    name: ClassVar[str] = "redact"

    def __init__(self, **options: Any) -> None:
        opts = parse_options(self.name, RedactOptions, options)
        self.options = opts
        self._masks: dict[str, str] = {}
        self._mask_format = self._check_mask(opts.mask)
        unknown = sorted(set(opts.disable) - set(BUILTIN_PATTERNS))
        if unknown:
            raise PluginOptionError(
                self.name,
                "disable",
                f"unknown kind(s) {', '.join(unknown)} (built-in: {', '.join(BUILTIN_PATTERNS)})",
            )
        self._patterns = self._compile(opts)
        self._deny = _globs(
            [
                *(DEFAULT_DENY_ATTRIBUTES if opts.default_deny_attributes else ()),
                *opts.deny_attributes,
            ]
        )
        self._ignore = _globs(opts.ignore_attributes)
        self._deny_keys = frozenset(
            _key_name(k)
            for k in (*(DEFAULT_DENY_KEYS if opts.default_deny_keys else ()), *opts.deny_keys)
        )
        self._policy: dict[str, int] = {}
        self._resources: dict[int, tuple[Resource, Resource]] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- configuration -------------------------------------------------------------------

    def _check_mask(self, mask: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(mask) if f is not None]
        except ValueError as exc:
            raise PluginOptionError(self.name, "mask", f"not a valid format: {exc}") from None
        if any(f != "kind" for f in fields):
            raise PluginOptionError(
                self.name,
                "mask",
                "the only placeholder allowed is {kind}, e.g. '[REDACTED:{kind}]'",
            )
        return mask

    def _compile(self, opts: RedactOptions) -> list[_Pattern]:
        patterns = [
            _Pattern(kind, re.compile(regex), builtin=True)
            for kind, regex in BUILTIN_PATTERNS.items()
            if kind not in opts.disable
        ]
        for kind, regex in opts.patterns.items():
            option = f"patterns.{kind}"
            if not _KIND_NAME.fullmatch(kind):
                raise PluginOptionError(
                    self.name, option, "a kind is 1-64 letters, digits, '_', '.' or '-'"
                )
            try:
                compiled = re.compile(regex)
            except re.error as exc:
                raise PluginOptionError(self.name, option, f"invalid regex: {exc}") from None
            if compiled.match(""):
                raise PluginOptionError(self.name, option, "the regex matches the empty string")
            patterns.append(_Pattern(kind, compiled))
        return patterns

    def mask_for(self, kind: str) -> str:
        """The text that replaces a value of ``kind``."""
        mask = self._masks.get(kind)
        if mask is None:
            mask = self._mask_format.format(kind=kind)
            self._masks[kind] = mask
        return mask

    # -- the plugin ----------------------------------------------------------------------

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        """The spans with secrets masked; spans with nothing to mask are passed as they are."""
        counts: dict[str, int] = {}
        out = [self._span(span, counts) for span in spans]
        if counts:
            with self._lock:
                for kind, count in counts.items():
                    self._counts[kind] = self._counts.get(kind, 0) + count
        return out

    def counts(self) -> dict[str, int]:
        """Values masked so far, by kind; ``spans``: spans that had something masked."""
        with self._lock:
            return dict(self._counts)

    def redact_text(self, text: str) -> str:
        """``text`` with secrets masked (JSON text stays valid JSON)."""
        return self._string(text, {}, 0)

    # -- spans ---------------------------------------------------------------------------

    def _span(self, span: ReadableSpan, counts: dict[str, int]) -> ReadableSpan:
        attrs = self._attributes(span.attributes, counts)
        events = self._events(span.events, counts)
        links = self._links(span.links, counts)
        name = span.name
        status = span.status
        if self.options.span_names:
            if isinstance(name, str):
                name = self._scan(name, counts)
            description = status.description if status is not None else None
            if description:
                new = self._scan(description, counts)
                if new is not description:
                    status = Status(status.status_code, new)
        resource = span.resource
        if self.options.resource and resource is not None:
            resource = self._resource(resource, counts)
        if (
            attrs is None
            and events is None
            and links is None
            and name is span.name
            and status is span.status
            and resource is span.resource
        ):
            return span
        counts[_SPANS_KIND] = counts.get(_SPANS_KIND, 0) + 1
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=resource,
            attributes=span.attributes if attrs is None else attrs,
            events=span.events if events is None else events,
            links=span.links if links is None else links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _events(self, events: Sequence[Event], counts: dict[str, int]) -> list[Event] | None:
        out: list[Event] | None = None
        for index, event in enumerate(events):
            attrs = self._attributes(event.attributes, counts)
            if attrs is None:
                continue
            if out is None:
                out = list(events)
            out[index] = Event(event.name, attrs, event.timestamp)
        return out

    def _links(self, links: Sequence[Link], counts: dict[str, int]) -> list[Link] | None:
        out: list[Link] | None = None
        for index, link in enumerate(links):
            attrs = self._attributes(link.attributes, counts)
            if attrs is None:
                continue
            if out is None:
                out = list(links)
            out[index] = Link(link.context, attrs)
        return out

    def _resource(self, resource: Resource, counts: dict[str, int]) -> Resource:
        # Spans of one process share one Resource: redact it once (masks counted then).
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        attrs = self._attributes(resource.attributes, counts)
        redacted = resource if attrs is None else Resource(attrs, resource.schema_url)
        if len(self._resources) >= _RESOURCE_CACHE_SIZE:
            self._resources.clear()
        self._resources[id(resource)] = (resource, redacted)
        return redacted

    # -- values --------------------------------------------------------------------------

    def _key_policy(self, key: str) -> int:
        policy = self._policy.get(key)
        if policy is None:
            lowered = key.lower()
            if self._ignore is not None and self._ignore.match(lowered):
                policy = _IGNORE
            elif self._deny is not None and self._deny.match(lowered):
                policy = _DENY
            else:
                policy = _SCAN
            if len(self._policy) >= _POLICY_CACHE_SIZE:
                self._policy.clear()
            self._policy[key] = policy
        return policy

    def _attributes(
        self, attrs: Mapping[str, Any] | None, counts: dict[str, int]
    ) -> dict[str, Any] | None:
        """A redacted copy of ``attrs``, or None if nothing in them needed masking."""
        if not attrs:
            return None
        out: dict[str, Any] | None = None
        for key, value in attrs.items():
            policy = self._key_policy(key)
            if policy == _IGNORE:
                continue
            if policy == _DENY:
                new: Any = self._deny_value(value, _ATTRIBUTE_KIND, counts)
            else:
                new = self._value(value, counts, 0)
            if new is not value:
                if out is None:
                    out = dict(attrs)
                out[key] = new
        return out

    def _deny_value(self, value: Any, kind: str, counts: dict[str, int]) -> Any:
        mask = self.mask_for(kind)
        if value is None or value == mask:
            return value
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            if all(item == mask for item in value):
                return value
            counts[kind] = counts.get(kind, 0) + 1
            return tuple(mask for _ in value)
        counts[kind] = counts.get(kind, 0) + 1
        return mask

    def _value(self, value: Any, counts: dict[str, int], depth: int) -> Any:
        if isinstance(value, str):
            return self._string(value, counts, depth)
        if isinstance(value, Mapping):
            return self._walk(value, counts, depth)
        if isinstance(value, Sequence) and not isinstance(value, bytes):
            items = [self._value(item, counts, depth) for item in value]
            if any(new is not old for new, old in zip(items, value, strict=True)):
                return tuple(items)
        return value

    def _string(self, text: str, counts: dict[str, int], depth: int) -> str:
        if depth < _MAX_JSON_DEPTH and _looks_like_json(text):
            redacted = self._json_text(text, counts, depth)
            if redacted is not None:
                return redacted
        return self._scan(text, counts)

    def _scan(self, text: str, counts: dict[str, int]) -> str:
        """``text`` with every pattern's matches masked; ``text`` itself if none was."""
        lowered: str | None = None
        for pattern in self._patterns:
            if pattern.needles:
                if pattern.lower:
                    if lowered is None:
                        lowered = text.lower()
                    haystack = lowered
                else:
                    haystack = text
                if not any(needle in haystack for needle in pattern.needles):
                    continue
            if pattern.regex.search(text) is None:
                continue
            new = pattern.regex.sub(self._replacer(pattern, counts), text)
            if new != text:  # a match can be rejected (a number that fails Luhn)
                text = new
                lowered = None
        return text

    def _replacer(self, pattern: _Pattern, counts: dict[str, int]) -> Any:
        mask = self.mask_for(pattern.kind)
        kind = pattern.kind

        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if pattern.secret and match.group("secret") is not None:
                secret = match.group("secret")
                start, end = match.span("secret")
                offset = match.start()
                if secret == mask or secret.startswith(mask):
                    return whole
                if pattern.check is not None and not pattern.check(secret):
                    return whole
                counts[kind] = counts.get(kind, 0) + 1
                return whole[: start - offset] + mask + whole[end - offset :]
            if pattern.check is not None and not pattern.check(whole):
                return whole
            counts[kind] = counts.get(kind, 0) + 1
            return mask

        return replace

    # -- JSON ----------------------------------------------------------------------------

    def _json_text(self, text: str, counts: dict[str, int], depth: int) -> str | None:
        """Redacted JSON text, ``text`` itself if nothing changed, None if not JSON."""
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            try:
                data = json.loads(text)
            except ValueError:
                return None
        local: dict[str, int] = {}
        new = self._walk(data, local, depth + 1)
        if new is data:
            return text
        for kind, count in local.items():
            counts[kind] = counts.get(kind, 0) + count
        return _dumps(new)

    def _deny_json(self, value: Any, counts: dict[str, int]) -> Any:
        mask = self.mask_for(_KEY_KIND)
        if value is None or value == mask or value in ("", [], {}):
            return value
        counts[_KEY_KIND] = counts.get(_KEY_KIND, 0) + 1
        return mask

    def _walk(self, node: Any, counts: dict[str, int], depth: int) -> Any:
        if isinstance(node, str):
            return self._string(node, counts, depth)
        if isinstance(node, Mapping):
            out: dict[Any, Any] | None = None
            for key, value in node.items():
                if isinstance(key, str) and _key_name(key) in self._deny_keys:
                    new = self._deny_json(value, counts)
                else:
                    new = self._walk(value, counts, depth)
                if new is not value:
                    if out is None:
                        out = dict(node)
                    out[key] = new
            return node if out is None else out
        if isinstance(node, list | tuple):
            items = [self._walk(item, counts, depth) for item in node]
            if any(new is not old for new, old in zip(items, node, strict=True)):
                return items
        return node


def _looks_like_json(text: str) -> bool:
    if len(text) < 2:
        return False
    first = text[0] if text[0] in "{[" else text.lstrip()[:1]
    if first not in ("{", "["):
        return False
    last = text[-1] if text[-1] in "}]" else text.rstrip()[-1:]
    return (first == "{" and last == "}") or (first == "[" and last == "]")


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers over 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
