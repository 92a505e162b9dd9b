"""``generate_task_models`` against the real server: the written module imports, its models
validate, carry their ``moxn_schema_metadata``, render, and make prompt sessions."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from moxtrace import PromptSession
from moxtrace.codegen import RenderableModel
from moxtrace.types import MessageData, MessageRole, TextContent, Variable
from tests.integration.registry_support import ClientFactory, clients
from tests.support.server import MoxtraceServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoxtraceServer]:
    server = MoxtraceServer(tmp_path_factory.mktemp("moxtrace-codegen"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sync", "async"])
def make_client(
    request: pytest.FixtureRequest, registry_server: MoxtraceServer
) -> Iterator[ClientFactory]:
    with clients(request.param, registry_server) as make:
        yield make


def load(path: Path) -> ModuleType:
    name = f"generated_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_generated_models_import_render_and_make_sessions(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client()
    task = client.create_task("Support Bot")
    client.create_property(
        task.id, "history", {"type": "array", "items": {"type": "string"}}, "Earlier turns"
    )
    prompt = client.create_prompt(
        task.id,
        "Product help",
        [
            MessageData(
                name="System",
                role=MessageRole.SYSTEM,
                blocks=[[TextContent(text="Customer: "), Variable(name="user_name")]],
            ),
            MessageData(
                name="Question",
                role=MessageRole.USER,
                blocks=[
                    [Variable(name="query", description="The user's question")],
                    [Variable(name="history", required=False)],
                ],
            ),
        ],
    )
    commit = client.commit(task.id, "main", "v1")

    response = client.generate_task_models(task.id, commit_id=commit.id, output_dir=tmp_path)
    assert response.filename == "support_bot_models.py"
    assert response.models == ["ProductHelpInput"]
    assert response.commit_id == commit.id
    module = load(tmp_path / response.filename)
    model = module.ProductHelpInput
    assert issubclass(model, RenderableModel)
    meta = model.moxn_schema_metadata
    assert (meta.prompt_id, meta.task_id, meta.commit_id) == (prompt.id, task.id, commit.id)
    assert prompt.input_schema is not None and meta.schema_id == prompt.input_schema.id

    data = model(user_name="Ada", query="Where is my order?", history=["hi", "hello"])
    assert data.render() == {
        "user_name": "Ada",
        "query": "Where is my order?",
        "history": '["hi","hello"]',
    }
    with pytest.raises(ValueError, match="query"):
        model(user_name="Ada")

    # The model knows its prompt and version: a session needs nothing else.
    session = client.prompt_session_from_session_data(data)
    assert isinstance(session, PromptSession)
    assert session.prompt.id == prompt.id and session.prompt.commit_id == commit.id
    session_id = uuid.uuid4()
    on_main = client.prompt_session_from_session_data(
        data, branch_name="main", session_id=session_id
    )
    assert on_main.prompt.branch_name == "main"
    assert on_main.id == session_id

    # Branch models are stamped with the branch; without a version, main is used.
    on_branch = client.generate_task_models(task.id)
    assert on_branch.branch_name == "main" and on_branch.commit_id is None
    assert '"branch_name": "main"' in on_branch.generated_code
