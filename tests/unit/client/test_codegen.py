"""Code generation: models that import, validate, carry their metadata and render."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest

from moxtrace.codegen import (
    DatamodelCodegenResponse,
    MoxnSchemaMetadata,
    RenderableModel,
    generate_models,
    models_filename,
)
from moxtrace.types import Task


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"generated_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_generated_models_import_validate_and_render(tmp_path: Path) -> None:
    task_id, prompt_id, schema_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    definition = {
        "title": "ProductHelpInput",
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "The user's question"},
            "class": {"type": "integer"},
            "documents": {
                "type": "array",
                "items": {"type": "object", "properties": {"title": {"type": "string"}}},
            },
        },
        "required": ["query"],
        "x-moxn-metadata": {
            "schema_id": str(schema_id),
            "prompt_id": str(prompt_id),
            "task_id": str(task_id),
            "commit_id": "c" * 32,
        },
    }
    task = Task(
        id=task_id,
        name="Support Bot",
        commit_id="c" * 32,
        definitions={"ProductHelpInput": definition},
    )
    response = generate_models(task)
    assert response.filename == "support_bot_models.py"
    assert response.models == ["ProductHelpInput"]
    assert response.commit_id == "c" * 32 and response.branch_name is None
    path = response.write(tmp_path / "models")
    assert path == tmp_path / "models" / "support_bot_models.py"
    module = load(path)
    model_cls = module.ProductHelpInput
    assert issubclass(model_cls, RenderableModel)
    assert model_cls.moxn_schema_metadata == MoxnSchemaMetadata(
        schema_id=schema_id, prompt_id=prompt_id, task_id=task_id, commit_id="c" * 32
    )
    data = model_cls(query="Where is it?", class_=2, documents=[{"title": "Manual"}])
    assert data.render() == {
        "query": "Where is it?",
        "class": "2",
        "documents": '[{"title":"Manual"}]',
    }
    assert model_cls(query="q").render() == {"query": "q"}
    with pytest.raises(ValueError, match="query"):
        model_cls()
    assert "SupportBotModels" in response.generated_code


def test_a_task_without_schemas_gives_an_empty_module(tmp_path: Path) -> None:
    task = Task(id=uuid.uuid4(), name="Empty", branch_name="main")
    response = generate_models(task)
    assert response.models == [] and response.branch_name == "main"
    load(response.write(tmp_path))


def test_filenames_are_python_module_names() -> None:
    assert models_filename("Customer Support Bot") == "customer_support_bot_models.py"
    assert models_filename("42 things!") == "task_42_things_models.py"
    assert models_filename("") == "task_models.py"


def test_the_response_reads_the_server_json() -> None:
    response = DatamodelCodegenResponse.model_validate(
        {"filename": "x_models.py", "generated_code": "", "models": [], "extra": 1}
    )
    assert response.filename == "x_models.py"
