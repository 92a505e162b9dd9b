"""Webhooks from the real ``moxtrace serve`` to a receiver on 127.0.0.1: delivered on each
commit, signed (verified with ``moxtrace.webhooks``), retried with backoff after a failure,
signed with both secrets during a rotation, and kept across a server restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from moxtrace import webhooks
from moxtrace.types import MessageData, MessageRole, TextContent
from tests.integration.registry_support import ClientFactory, Receiver, clients
from tests.support.server import MoxtraceServer, poll

pytestmark = pytest.mark.integration

FAST_RETRIES = {
    "MOXN_SERVER_WEBHOOK_BACKOFF": "0.2",
    "MOXN_SERVER_WEBHOOK_POLL_INTERVAL": "0.2",
    "MOXN_SERVER_WEBHOOK_MAX_ATTEMPTS": "3",
    "MOXN_SERVER_WEBHOOK_TIMEOUT": "5",
}


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoxtraceServer]:
    server = MoxtraceServer(tmp_path_factory.mktemp("moxtrace-webhooks"), env=FAST_RETRIES)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sync", "async"])
def make_client(
    request: pytest.FixtureRequest, registry_server: MoxtraceServer
) -> Iterator[ClientFactory]:
    with clients(request.param, registry_server) as make:
        yield make


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def edit_and_commit(client: Any, task: Any, message: Any, text: str) -> Any:
    client.update_message(message.id, "main", blocks=[[TextContent(text=text)]])
    return client.commit(task.id, "main", text)


def setup(client: Any) -> tuple[Any, Any, Any]:
    task = client.create_task("Hooked")
    message = client.create_message(task.id, MessageData(name="m", role=MessageRole.USER))
    prompt = client.create_prompt(task.id, "P", [message])
    return task, message, prompt


def test_a_commit_is_delivered_signed_and_parses(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    client = make_client()
    task, _, prompt = setup(client)
    hook = client.create_webhook(receiver.url, task_id=task.id)
    assert hook.secret is not None and hook.secret.startswith("whsec_")
    assert [h.id for h in client.list_webhooks() if h.id == hook.id] == [hook.id]
    assert all(h.secret is None for h in client.list_webhooks())

    commit = client.commit(task.id, "main", "ship it")
    (request,) = poll(lambda: receiver.requests[:1], timeout=30, what="webhook delivery")
    header = request.headers["x-moxn-signature"]
    assert webhooks.verify_signature(request.body, header, hook.secret)
    assert not webhooks.verify_signature(request.body, header, "whsec_" + "0" * 64)
    assert not webhooks.verify_signature(request.body + b" ", header, hook.secret)
    assert request.headers["x-moxn-event"] == "commit.created"
    assert request.headers["content-type"] == "application/json"
    event = webhooks.parse(request.body)
    assert event.id.startswith("evt_")
    assert event.tenant_id == "dev"
    assert abs(event.created_at - time.time()) < 120
    assert event.commit is not None
    assert (event.commit.task_id, event.commit.commit_id) == (task.id, commit.id)
    assert (event.commit.branch_name, event.commit.message) == ("main", "ship it")
    assert event.commit.prompt_ids == [prompt.id]

    (delivery,) = poll(
        lambda: [d for d in client.list_webhook_deliveries(hook.id) if d.status == "delivered"],
        timeout=30,
        what="delivery recorded as delivered",
    )
    assert delivery.event_id == event.id and delivery.attempts == 1
    assert delivery.last_status_code == 200


def test_a_failed_delivery_is_retried_with_the_same_event(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    client = make_client()
    task, message, _ = setup(client)
    hook = client.create_webhook(receiver.url, task_id=task.id)
    receiver.statuses = [500, 503]  # then 200
    client.commit(task.id, "main", "flaky receiver")
    requests = poll(
        lambda: receiver.requests[2:] and receiver.requests,
        timeout=30,
        what="three delivery attempts",
    )
    assert len({webhooks.parse(r.body).id for r in requests}) == 1
    assert all(
        webhooks.verify_signature(r.body, r.headers["x-moxn-signature"], hook.secret or "")
        for r in requests
    )
    (delivery,) = poll(
        lambda: [d for d in client.list_webhook_deliveries(hook.id) if d.status == "delivered"],
        timeout=30,
        what="delivered after retries",
    )
    assert delivery.attempts == 3

    # A receiver that never recovers: the delivery fails after MAX_ATTEMPTS.
    receiver.statuses = [500] * 10
    edit_and_commit(client, task, message, "never delivered")
    poll(
        lambda: [d for d in client.list_webhook_deliveries(hook.id) if d.status == "failed"],
        timeout=30,
        what="delivery marked failed",
    )
    failed = client.list_webhook_deliveries(hook.id)[0]
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 3, "HTTP 500")


def test_only_matching_webhooks_hear_of_a_commit(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    client = make_client()
    task, _, _ = setup(client)
    other_task, _, _ = setup(client)
    hook = client.create_webhook(receiver.url, task_id=other_task.id)
    client.commit(task.id, "main", "not for that hook")
    client.commit(other_task.id, "main", "for it")
    (request,) = poll(lambda: receiver.requests[:1], timeout=30, what="delivery")
    event = webhooks.parse(request.body)
    assert event.commit is not None and event.commit.task_id == other_task.id
    client.delete_webhook(hook.id)
    assert hook.id not in [h.id for h in client.list_webhooks()]


def test_rotation_signs_with_both_secrets(make_client: ClientFactory, receiver: Receiver) -> None:
    client = make_client()
    task, message, _ = setup(client)
    hook = client.create_webhook(receiver.url, task_id=task.id)
    rotated = client.rotate_webhook_secret(hook.id, grace_seconds=3600)
    assert rotated.secret and rotated.secret != hook.secret
    client.commit(task.id, "main", "after rotation")
    (request,) = poll(lambda: receiver.requests[:1], timeout=30, what="delivery")
    header = request.headers["x-moxn-signature"]
    assert header.count("v1=") == 2
    assert webhooks.verify_signature(request.body, header, rotated.secret)
    assert webhooks.verify_signature(request.body, header, hook.secret or "")

    client.rotate_webhook_secret(hook.id, grace_seconds=0)  # the old one stops at once
    edit_and_commit(client, task, message, "second")
    requests = poll(lambda: receiver.requests[1:], timeout=30, what="second delivery")
    assert requests[0].headers["x-moxn-signature"].count("v1=") == 1
    assert not webhooks.verify_signature(
        requests[0].body, requests[0].headers["x-moxn-signature"], rotated.secret
    )


def test_deliveries_survive_a_server_restart(
    tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> None:
    env = {**FAST_RETRIES, "MOXN_SERVER_WEBHOOK_MAX_ATTEMPTS": "20"}
    server = MoxtraceServer(tmp_path_factory.mktemp("moxtrace-restart"), env=env)
    server.start()
    try:
        with clients("sync", server) as make:
            client = make()
            task, _, _ = setup(client)
            hook = client.create_webhook(receiver.url, task_id=task.id)
            receiver.statuses = [500] * 1000  # refuse until the server restarts
            client.commit(task.id, "main", "before the kill")
            poll(lambda: receiver.requests[:1], timeout=30, what="first attempt")
        server.kill()
        receiver.statuses = []
        count = len(receiver.requests)
        server.start()
        requests = poll(
            lambda: receiver.requests[count:], timeout=60, what="delivery after restart"
        )
        assert webhooks.verify_signature(
            requests[0].body, requests[0].headers["x-moxn-signature"], hook.secret or ""
        )
    finally:
        server.stop()
