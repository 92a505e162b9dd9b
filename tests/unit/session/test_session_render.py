"""Rendering: variables of every kind and format, from every kind of session data."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from moxtrace import PromptSession
from moxtrace.session import (
    InvalidVariableError,
    Media,
    MissingVariableError,
    PromptRenderError,
    format_value,
)
from moxtrace.types import (
    ImageContentFromSource,
    MessageRole,
    PDFContentFromSource,
    SignedURLImageContent,
    SignedURLPDFContent,
    TextContent,
    ToolCall,
    ToolResult,
    Variable,
    VariableFormat,
    VariableType,
)
from tests.unit.session.prompts import (
    PDF,
    PDF_B64,
    PNG,
    PNG_B64,
    SYSTEM_TEXT,
    USER_TEXT,
    conversation_prompt,
    message,
    prompt,
    support_input,
)

IMAGE = VariableType.IMAGE
FILE = VariableType.FILE


def render_one(
    *rows: list[Any], data: Any, role: MessageRole = MessageRole.USER
) -> tuple[Any, ...]:
    session = PromptSession(prompt(message(role, *rows)), data)
    (rendered,) = session.render().messages
    return rendered.parts


def text_of(*rows: list[Any], data: Any) -> str:
    parts = render_one(*rows, data=data)
    assert len(parts) == 1 and isinstance(parts[0], TextContent)
    return parts[0].text


# -- text ------------------------------------------------------------------------------
def test_inline_variables_join_their_row_and_rows_join_with_newlines() -> None:
    text = text_of(
        [TextContent(text="Hello "), Variable(name="name"), TextContent(text="!")],
        [TextContent(text="Order "), Variable(name="order")],
        data={"name": "Ada", "order": "A1"},
    )
    assert text == "Hello Ada!\nOrder A1"


def test_a_block_variable_stands_on_lines_of_its_own() -> None:
    text = text_of(
        [
            TextContent(text="Context:"),
            Variable(name="doc", format=VariableFormat.BLOCK),
            TextContent(text="End."),
        ],
        data={"doc": "line one\nline two"},
    )
    assert text == "Context:\nline one\nline two\nEnd."


class Colour(enum.Enum):
    RED = "red"


class Item(BaseModel):
    sku: str
    qty: int


class Summary(BaseModel):
    title: str

    def render(self) -> str:
        return f"<{self.title}>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (False, "false"),
        (Colour.RED, "red"),
        (dt.date(2025, 1, 2), "2025-01-02"),
        (dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "2025-01-02T03:04:05+00:00"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ({"a": [1, 2], "b": None}, '{"a":[1,2],"b":null}'),
        ([{"x": "é"}], '[{"x":"é"}]'),
        (Item(sku="L1", qty=2), '{"sku":"L1","qty":2}'),
        ([Item(sku="L1", qty=2)], '[{"sku":"L1","qty":2}]'),
        (Summary(title="t"), "<t>"),
    ],
)
def test_primitive_values_render_as_text(value: Any, expected: str) -> None:
    assert format_value(value) == expected
    assert text_of([Variable(name="v")], data={"v": value}) == expected


def test_a_missing_required_variable_names_the_variable_and_the_prompt() -> None:
    session = PromptSession(
        prompt(message(MessageRole.USER, [Variable(name="query")]), name="faq"), {"other": 1}
    )
    with pytest.raises(MissingVariableError) as info:
        session.render()
    assert info.value.variable == "query"
    assert info.value.prompt_name == "faq"
    assert "'query'" in str(info.value) and "'faq'" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_none_counts_as_missing_for_a_required_variable() -> None:
    with pytest.raises(MissingVariableError, match="'query'"):
        text_of([Variable(name="query")], data={"query": None})


def test_missing_optional_variables_render_empty_and_empty_messages_vanish() -> None:
    session = PromptSession(
        prompt(
            message(
                MessageRole.USER, [TextContent(text="Q: "), Variable(name="q", required=False)]
            ),
            message(MessageRole.USER, [Variable(name="note", required=False)]),
            message(
                MessageRole.USER, [Variable(name="photo", variable_type=IMAGE, required=False)]
            ),
        ),
        {},
    )
    (only,) = session.render().messages
    assert only.parts == (TextContent(text="Q: "),)


def test_an_empty_string_is_a_value_not_a_missing_variable() -> None:
    assert (
        text_of([TextContent(text="a"), Variable(name="v"), TextContent(text="b")], data={"v": ""})
        == "ab"
    )


def test_bytes_for_a_text_variable_is_an_invalid_value() -> None:
    with pytest.raises(InvalidVariableError, match=r"'raw'.*bytes are not text") as info:
        text_of([Variable(name="raw")], data={"raw": b"\x00"})
    assert info.value.variable == "raw"


# -- session data ---------------------------------------------------------------------
class QueryInput(BaseModel):
    """A generated, renderable model."""

    moxn_schema_metadata: ClassVar[dict[str, str]] = {"prompt_id": "p-123", "schema_id": "s-1"}
    query: str
    limit: int
    photo: bytes | None = None
    calls: ClassVar[list[dict[str, Any]]] = []

    def render(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"query": self.query.upper(), "limit": str(self.limit), "photo": "ignored"}


def test_a_renderable_model_is_rendered_once_with_the_render_kwargs() -> None:
    QueryInput.calls.clear()
    session = PromptSession(
        prompt(
            message(
                MessageRole.USER,
                [Variable(name="query"), TextContent(text=" / "), Variable(name="limit")],
                [Variable(name="photo", variable_type=IMAGE)],
            )
        ),
        QueryInput(query="where", limit=3, photo=PNG),
        render_kwargs={"style": "short"},
    )
    first = session.render()
    session.to_anthropic_invocation(model="m")
    session.to_google_invocation(model="m")
    session.genai_messages()
    assert session.render() is first
    assert QueryInput.calls == [{"style": "short"}]
    text, image = first.messages[0].parts
    assert text == TextContent(text="WHERE / 3")
    # render() gives strings; an image variable is read from the model's attribute.
    assert image == Media(kind="image", data=PNG, media_type="image/png")


def test_a_plain_model_gives_its_attributes() -> None:
    class Plain(BaseModel):
        query: str
        tags: list[str]

    assert (
        text_of([Variable(name="query"), Variable(name="tags")], data=Plain(query="q", tags=["a"]))
        == 'q["a"]'
    )


def test_render_must_return_a_mapping() -> None:
    class Broken(BaseModel):
        def render(self) -> str:
            return "nope"

    with pytest.raises(TypeError, match=r"render\(\) returned a str"):
        PromptSession(prompt(message(MessageRole.USER, [Variable(name="q")])), Broken()).render()


def test_session_data_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="pydantic model or a mapping"):
        PromptSession(prompt(message(MessageRole.USER, [Variable(name="q")])), ["q"]).render()  # type: ignore[arg-type]


def test_from_prompt_renders_at_once() -> None:
    p = prompt(message(MessageRole.USER, [Variable(name="query")]), name="faq")
    lazy = PromptSession(p, {})
    with pytest.raises(MissingVariableError):
        lazy.render()
    with pytest.raises(MissingVariableError, match="'faq'"):
        PromptSession.from_prompt(p, {})


# -- images and files -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "https://x.test/cat.png",
            Media(kind="image", url="https://x.test/cat.png", media_type="image/png"),
        ),
        ("https://x.test/cat", Media(kind="image", url="https://x.test/cat")),
        (f"data:image/png;base64,{PNG_B64}", Media(kind="image", data=PNG, media_type="image/png")),
        (PNG, Media(kind="image", data=PNG, media_type="image/png")),
        (
            bytearray(b"\xff\xd8\xff\xe0jpeg"),
            Media(kind="image", data=b"\xff\xd8\xff\xe0jpeg", media_type="image/jpeg"),
        ),
        (
            {"data": PNG_B64, "media_type": "image/png"},
            Media(kind="image", data=PNG, media_type="image/png"),
        ),
        (
            {"data": b"raw", "mime_type": "image/webp"},
            Media(kind="image", data=b"raw", media_type="image/webp"),
        ),
        (
            {"url": "https://x.test/a.gif", "alt": "a cat"},
            Media(kind="image", url="https://x.test/a.gif", media_type="image/gif", name="a cat"),
        ),
        (
            ImageContentFromSource(url="https://x.test/i.webp", alt="alt"),
            Media(kind="image", url="https://x.test/i.webp", media_type="image/webp", name="alt"),
        ),
        (
            SignedURLImageContent(
                signed_url="https://s.test/i?sig=1", file_path="i.png", media_type="image/png"
            ),
            Media(kind="image", url="https://s.test/i?sig=1", media_type="image/png"),
        ),
    ],
)
def test_image_values(value: Any, expected: Media) -> None:
    (part,) = render_one([Variable(name="img", variable_type=IMAGE)], data={"img": value})
    assert part == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "https://x.test/doc.pdf",
            Media(kind="pdf", url="https://x.test/doc.pdf", media_type="application/pdf"),
        ),
        (
            f"data:application/pdf;base64,{PDF_B64}",
            Media(kind="pdf", data=PDF, media_type="application/pdf"),
        ),
        (PDF, Media(kind="pdf", data=PDF, media_type="application/pdf")),
        (
            {"data": PDF, "filename": "inv.pdf"},
            Media(kind="pdf", data=PDF, media_type="application/pdf", name="inv.pdf"),
        ),
        (
            PDFContentFromSource(url="https://x.test/d.pdf", name="d.pdf"),
            Media(
                kind="pdf", url="https://x.test/d.pdf", media_type="application/pdf", name="d.pdf"
            ),
        ),
        (
            SignedURLPDFContent(signed_url="https://s.test/d?sig=1", file_path="d.pdf"),
            Media(kind="pdf", url="https://s.test/d?sig=1"),
        ),
    ],
)
def test_pdf_values(value: Any, expected: Media) -> None:
    (part,) = render_one([Variable(name="doc", variable_type=FILE)], data={"doc": value})
    assert part == expected


def test_a_list_gives_several_images_between_the_surrounding_text() -> None:
    parts = render_one(
        [
            TextContent(text="Compare "),
            Variable(name="imgs", variable_type=IMAGE),
            TextContent(text=" please"),
        ],
        data={"imgs": ["https://x.test/a.png", PNG]},
    )
    assert [type(p).__name__ for p in parts] == ["TextContent", "Media", "Media", "TextContent"]
    assert parts[0].text == "Compare " and parts[3].text == " please"


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        (IMAGE, 42, "expected an image .* got int"),
        (IMAGE, "cat.png", "expected a URL or a data: URL"),
        (IMAGE, Path("cat.png"), "rendering reads no files"),
        (IMAGE, b"not an image", "could not tell the image's type"),
        (IMAGE, PDF, "expected an image, got application/pdf"),
        (IMAGE, "https://x.test/doc.pdf", "expected an image, got a URL to application/pdf"),
        (
            IMAGE,
            PDFContentFromSource(url="https://x.test/d.pdf"),
            "expected an image, got a PDF block",
        ),
        (IMAGE, {"data": "%%%", "media_type": "image/png"}, "not base64"),
        (IMAGE, {"url": "https://x", "data": b"x"}, "exactly one of 'url' and 'data'"),
        (FILE, "data:image/png;base64," + PNG_B64, "expected a PDF, got image/png"),
        (
            FILE,
            ImageContentFromSource(url="https://x.test/a.png"),
            "expected a PDF, got an image block",
        ),
    ],
)
def test_bad_media_values_name_the_variable(kind: VariableType, value: Any, problem: str) -> None:
    with pytest.raises(InvalidVariableError, match=problem) as info:
        render_one([Variable(name="thing", variable_type=kind)], data={"thing": value})
    assert info.value.variable == "thing"
    assert info.value.prompt_name == "support-answer"


def test_static_media_and_history_blocks_are_kept_in_order() -> None:
    call = ToolCall(tool_name="f", tool_call_id="c1")
    result = ToolResult(tool_call_id="c1", content="ok")
    parts = render_one(
        [TextContent(text="see"), ImageContentFromSource(url="https://x.test/a.png"), call],
        [result, TextContent(text="done")],
        data={},
    )
    assert parts == (
        TextContent(text="see"),
        Media(kind="image", url="https://x.test/a.png", media_type="image/png"),
        call,
        result,
        TextContent(text="done"),
    )


def test_media_in_a_system_message_is_refused() -> None:
    with pytest.raises(PromptRenderError, match="system messages can hold only text"):
        render_one(
            [Variable(name="img", variable_type=IMAGE)], data={"img": PNG}, role=MessageRole.SYSTEM
        )


# -- the whole conversation -------------------------------------------------------------
def test_the_conversation_prompt_renders_to_the_expected_parts() -> None:
    rendered = PromptSession(conversation_prompt(), support_input()).render()
    assert rendered.system_text == SYSTEM_TEXT
    user = rendered.conversation[0]
    assert user.parts == (
        TextContent(text=USER_TEXT),
        Media(kind="image", data=PNG, media_type="image/png"),
        Media(kind="pdf", data=PDF, media_type="application/pdf", name="invoice.pdf"),
    )
    assert rendered.tool_names() == {"call_1": "lookup_order"}


def test_media_data_urls_and_base64() -> None:
    media = Media(kind="image", data=PNG, media_type="image/png")
    assert media.data_url() == f"data:image/png;base64,{PNG_B64}"
    assert media.base64() is media.base64()  # encoded once
    with pytest.raises(ValueError, match="exactly one of url and data"):
        Media(kind="image")
    with pytest.raises(ValueError, match="needs a media_type"):
        Media(kind="image", data=b"x")
