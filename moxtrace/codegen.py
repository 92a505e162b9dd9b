"""Pydantic models from a task's schemas, made with datamodel-code-generator.

``client.generate_task_models(task_id, branch_name="main", output_dir="models")`` asks the
server for the code (``POST /tasks/{id}/generate-models``) and writes it; the server (or
anyone holding a ``Task``) makes it with ``generate_models(task)``, which needs the
``[codegen]`` extra. Every generated model subclasses ``RenderableModel``: it knows which
prompt it feeds (``moxn_schema_metadata``) and turns itself into the variables a prompt is
rendered with (``render()``)::

    from models.support_bot_models import ProductHelpInput

    session = await client.prompt_session_from_session_data(
        ProductHelpInput(query="Where is my order?"), branch_name="main"
    )

This module imports without the extra; only ``generate_models`` needs it.
"""

from __future__ import annotations

import json
import keyword
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from moxtrace.types.task import Task

__all__ = [
    "CodegenUnavailableError",
    "DatamodelCodegenResponse",
    "MoxnSchemaMetadata",
    "RenderableModel",
    "generate_models",
    "models_filename",
]


class MoxnSchemaMetadata(BaseModel):
    """Where a schema comes from: the ``x-moxn-metadata`` of a JSON Schema.

    ``commit_id`` is set when the schema was read from a commit; ``branch_id`` and
    ``branch_name`` when it was read from a branch.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    schema_id: UUID | None = None
    prompt_id: UUID | None = None
    task_id: UUID | None = None
    commit_id: str | None = None
    branch_id: UUID | None = None
    branch_name: str | None = None


class RenderableModel(BaseModel):
    """Base of generated models: session data that knows its prompt and renders itself.

    ``render()`` gives the variables of the prompt, by name: strings as they are, other
    values as compact JSON (``moxtrace.session`` reads image and file variables from the
    model's attributes, so bytes survive). Override it to format values differently (e.g. a list of
    documents as Markdown).

    >>> class QueryInput(RenderableModel):
    ...     query: str
    ...     top_k: int = 3
    >>> QueryInput(query="hi").render()
    {'query': 'hi', 'top_k': '3'}
    """

    model_config = ConfigDict(populate_by_name=True)

    moxn_schema_metadata: ClassVar[MoxnSchemaMetadata | None] = None
    """The schema, prompt, task and version this model was generated from."""

    def render(self, **kwargs: Any) -> dict[str, str]:
        """The prompt's variables, by name, as text.

        ``kwargs`` are the ``render_kwargs`` a session was given; this implementation
        takes none, overrides may.
        """
        values = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {
            name: value
            if isinstance(value, str)
            else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            for name, value in values.items()
        }


class DatamodelCodegenResponse(BaseModel):
    """Generated model code: ``generated_code`` for the file ``filename``.

    ``models`` names the generated models with Moxn metadata (one per schema).
    """

    model_config = ConfigDict(extra="ignore")

    filename: str
    generated_code: str
    models: list[str] = Field(default_factory=list)
    task_id: UUID | None = None
    commit_id: str | None = None
    branch_name: str | None = None

    def write(self, output_dir: str | Path) -> Path:
        """Write the code to ``output_dir/filename`` (creating the directory); the path."""
        directory = Path(output_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.filename
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.generated_code, encoding="utf-8")
        tmp.replace(path)
        return path


class CodegenUnavailableError(RuntimeError):
    """datamodel-code-generator is not installed: ``pip install 'moxtrace[codegen]'``."""


def _snake(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    text = "_".join(w.lower() for w in words) or "task"
    return f"task_{text}" if text[0].isdigit() else text


def _pascal(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words) or "Task"
    return f"T{text}" if text[0].isdigit() else text


def models_filename(task_name: str) -> str:
    """The module name generated models of a task are written to.

    >>> models_filename("Customer Support Bot")
    'customer_support_bot_models.py'
    """
    return f"{_snake(task_name)}_models.py"


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def generate_models(task: Task) -> DatamodelCodegenResponse:
    """Python source with one pydantic model per schema of ``task`` (``task.definitions``).

    Each model subclasses ``RenderableModel`` and has its ``moxn_schema_metadata`` set from
    the schema's ``x-moxn-metadata``; a union of them all is ``<TaskName>Models``. Raises
    ``CodegenUnavailableError`` without datamodel-code-generator.

    >>> response = generate_models(task)
    >>> response.filename, response.models
    ('support_bot_models.py', ['ProductHelpInput'])
    """
    try:
        import datamodel_code_generator as dcg
    except ImportError:  # pragma: no cover - exercised without the extra
        raise CodegenUnavailableError(
            "generating models needs datamodel-code-generator: pip install 'moxtrace[codegen]'"
        ) from None
    definitions = {
        name: definition
        for name, definition in sorted(task.definitions.items())
        if isinstance(definition, dict) and _identifier(name)
    }
    version = {"commit_id": task.commit_id} if task.commit_id else {"branch_name": task.branch_name}
    root_name = f"{_pascal(task.name)}Models"
    header = (
        f"# Generated by moxtrace from task {task.name!r} ({task.id}), "
        + (f"commit {task.commit_id}." if task.commit_id else f"branch {task.branch_name!r}.")
        + "\n# Do not edit: regenerate with client.generate_task_models()."
    )
    if not definitions:
        code = f"{header}\n\nfrom __future__ import annotations\n"
        return DatamodelCodegenResponse(
            filename=models_filename(task.name),
            generated_code=code,
            models=[],
            task_id=task.id,
            **version,
        )
    document = {
        "$defs": definitions,
        "anyOf": [{"$ref": f"#/$defs/{name}"} for name in definitions],
    }
    options: dict[str, Any] = {
        "input_file_type": dcg.InputFileType.JsonSchema,
        "output_model_type": "pydantic_v2.BaseModel",
        "base_class": f"{RenderableModel.__module__}.{RenderableModel.__qualname__}",
        "class_name": root_name,
        "disable_timestamp": True,
        "custom_file_header": header,
        "use_schema_description": True,
        "field_constraints": True,
        "use_standard_collections": True,
        "use_union_operator": True,
        "target_python_version": dcg.PythonVersion.PY_310,
    }
    formatter = getattr(dcg, "Formatter", None)
    if formatter is not None and hasattr(formatter, "BUILTIN"):
        options["formatters"] = [formatter.BUILTIN]
    with tempfile.TemporaryDirectory(prefix="moxtrace-codegen-") as tmp:
        output = Path(tmp) / "models.py"
        with warnings.catch_warnings():
            # The generator's own deprecation notices are not the caller's business.
            warnings.simplefilter("ignore")
            dcg.generate(json.dumps(document), output=output, **options)
        code = output.read_text(encoding="utf-8")
    lines = [
        "",
        "",
        "from moxtrace.codegen import MoxnSchemaMetadata  # noqa: E402",
        "",
    ]
    models: list[str] = []
    for name, definition in definitions.items():
        if not re.search(rf"^class {re.escape(name)}\(", code, flags=re.M):
            continue
        meta = definition.get("x-moxn-metadata")
        meta = meta if isinstance(meta, dict) else {}
        lines.append(f"{name}.moxn_schema_metadata = MoxnSchemaMetadata.model_validate_json(")
        lines.append(f"    {json.dumps(meta, sort_keys=True)!r}")
        lines.append(")")
        models.append(name)
    code = code.rstrip("\n") + "\n".join(lines) + "\n"
    return DatamodelCodegenResponse(
        filename=models_filename(task.name),
        generated_code=code,
        models=models,
        task_id=task.id,
        **version,
    )
