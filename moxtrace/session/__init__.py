"""Prompt sessions: prompts rendered with session data, provider invocations, parsing."""

from __future__ import annotations

from moxtrace.session.providers import parse_response
from moxtrace.session.session import PromptSession

__all__ = ["PromptSession", "parse_response"]
