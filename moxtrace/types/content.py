"""Enumerations shared by prompts, messages and telemetry."""

from __future__ import annotations

from enum import Enum

__all__ = ["Author", "MessageRole", "Provider", "VariableFormat", "VariableType"]


class Provider(str, Enum):
    """The LLM API a prompt is sent to."""

    ANTHROPIC = "anthropic"
    OPENAI_CHAT = "openai_chat"
    OPENAI_RESPONSES = "openai_responses"
    GOOGLE_GEMINI = "google_gemini"
    GOOGLE_VERTEX = "google_vertex"


class MessageRole(str, Enum):
    """Who speaks a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class Author(str, Enum):
    """Who wrote a message: a person or a model."""

    HUMAN = "HUMAN"
    MACHINE = "MACHINE"


class VariableType(str, Enum):
    """What a variable is substituted with."""

    PRIMITIVE = "primitive"
    IMAGE = "image"
    FILE = "file"


class VariableFormat(str, Enum):
    """Whether a variable sits inside a paragraph or stands as a block of its own."""

    INLINE = "inline"
    BLOCK = "block"
