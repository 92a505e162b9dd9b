"""The content policy: where prompt and completion text may go."""

from __future__ import annotations

from enum import Enum

__all__ = ["ContentCapture", "resolve_content_capture"]


class ContentCapture(str, Enum):
    """Which destinations receive message content (``gen_ai.input.messages`` and friends).

    - ``NONE``: content is never recorded.
    - ``MOXN``: recorded, and sent to the Moxn platform only; OTLP and other
      third-party exporters get spans without it. The default.
    - ``ALL``: recorded and sent everywhere.
    """

    NONE = "none"
    MOXN = "moxn"
    ALL = "all"


_OTEL_VALUES = {
    "true": ContentCapture.ALL,
    "span_only": ContentCapture.ALL,
    "span_and_event": ContentCapture.ALL,
    "event_only": ContentCapture.ALL,
    "false": ContentCapture.NONE,
    "no_content": ContentCapture.NONE,
}


def resolve_content_capture(
    option: ContentCapture | bool | str | None,
    moxn_env: str | None = None,
    otel_env: str | None = None,
) -> ContentCapture:
    """The policy in force: the client option, else ``MOXN_CONTENT_CAPTURE``, else
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, else ``MOXN``.

    ``True`` means ``ALL`` and ``False`` means ``NONE``.
    """
    if isinstance(option, bool):
        return ContentCapture.ALL if option else ContentCapture.NONE
    if option is not None:
        return ContentCapture(option.lower() if isinstance(option, str) else option)
    if moxn_env:
        return ContentCapture(moxn_env.strip().lower())
    if otel_env:
        policy = _OTEL_VALUES.get(otel_env.strip().lower())
        if policy is None:
            raise ValueError(
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT must be true, false, "
                f"SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT or NO_CONTENT, not {otel_env!r}"
            )
        return policy
    return ContentCapture.MOXN
