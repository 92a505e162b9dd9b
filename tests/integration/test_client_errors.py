"""Error mapping and retries against real servers on 127.0.0.1, with both clients.

- the real ``moxtrace serve``: 401, 404, 409, 400/422 mapped to their classes; its
  per-tenant rate limit answering 429 with ``Retry-After``, which the client waits out;
- a fault-injecting proxy in front of it answering 503 with ``Retry-After`` (seconds, and
  an HTTP date) before forwarding: retried, the same idempotency key on every attempt;
- nothing listening: connection errors, retried until the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from moxtrace import Settings
from moxtrace.errors import (
    AuthenticationError,
    ConflictError,
    MoxnConnectionError,
    MoxnError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from moxtrace.http import IDEMPOTENCY_HEADER
from moxtrace.types import MessageData, MessageRole
from tests.integration.registry_support import Fault, FaultProxy, client_factory, clients
from tests.support.ports import free_port
from tests.support.server import MoxtraceServer

pytestmark = pytest.mark.integration

KINDS = ["sync", "async"]


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoxtraceServer]:
    server = MoxtraceServer(tmp_path_factory.mktemp("moxtrace-errors"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoxtraceServer]:
    """One request per second per tenant, no burst: the second request is a 429."""
    server = MoxtraceServer(
        tmp_path_factory.mktemp("moxtrace-limited"),
        options={"rate_limit": 1, "rate_limit_burst": 1},
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def proxy(registry_server: MoxtraceServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(registry_server.base_url)
    yield proxy
    proxy.close()


@pytest.mark.parametrize("kind", KINDS)
def test_statuses_map_to_their_errors(kind: str, registry_server: MoxtraceServer) -> None:
    with clients(kind, registry_server) as make:
        client = make()
        task = client.create_task("Errors")
        with pytest.raises(NotFoundError) as not_found:
            client.get_task("6f1f4f8e-0000-4000-8000-000000000000", branch_name="main")
        assert not_found.value.status_code == 404
        assert not_found.value.code == "not_found"
        assert not_found.value.request_id  # the server's x-request-id
        commit = client.commit(task.id, "main", "v1")
        client.create_message(task.id, MessageData(name="m", role=MessageRole.USER))
        with pytest.raises(ConflictError) as conflict:
            client.commit(task.id, "main", "stale", expected_head_commit_id="f" * 32)
        assert (conflict.value.status_code, conflict.value.code) == (409, "head_moved")
        assert conflict.value.details == {"head_commit_id": commit.id}
        with pytest.raises(ValidationError) as invalid:
            client.create_branch(task.id, "no spaces allowed", commit.id)
        assert invalid.value.status_code == 400
        assert invalid.value.code == "invalid_payload"

        bad_key = make(api_key="moxn_dev.notarealsecretnotarealsecret")
        with pytest.raises(AuthenticationError) as unauthorized:
            bad_key.verify_access()
        assert unauthorized.value.status_code == 401
        assert "MOXN_API_KEY" in unauthorized.value.message
        assert client.verify_access()["tenant_id"] == "dev"


@pytest.mark.parametrize("kind", KINDS)
def test_429_with_retry_after_is_waited_out(kind: str, limited_server: MoxtraceServer) -> None:
    with clients(kind, limited_server) as make:
        patient = make()
        impatient = make(max_retries=0)
        patient.verify_access()  # takes the bucket's only token
        with pytest.raises(RateLimitError) as limited:
            impatient.verify_access()
        assert limited.value.status_code == 429
        assert limited.value.retry_after is not None and limited.value.retry_after >= 1
        assert limited.value.retriable
        started = time.monotonic()
        assert patient.verify_access()["tenant_id"] == "dev"  # waits Retry-After, then passes
        assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_the_deadline_wins_over_a_long_retry_after(
    kind: str, limited_server: MoxtraceServer
) -> None:
    with clients(kind, limited_server) as make:
        drain = make(max_retries=0)
        for _ in range(3):  # empty the tenant's bucket
            try:
                drain.verify_access()
            except RateLimitError:
                break
        client = make(settings=Settings(export=False, retry_deadline=0.5))
        started = time.monotonic()
        with pytest.raises(RateLimitError):
            client.verify_access()  # Retry-After (>= 1 s) would end past the deadline
        assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("as_date", [False, True], ids=["seconds", "http-date"])
def test_503_with_retry_after_is_retried(
    kind: str, as_date: bool, proxy: FaultProxy, registry_server: MoxtraceServer
) -> None:
    make, made = client_factory(kind, proxy.url, registry_server.api_key)
    try:
        client = make()
        retry_after = formatdate(time.time() + 2, usegmt=True) if as_date else "1"
        proxy.faults = [Fault(503, {"Retry-After": retry_after}), Fault(502)]
        started = time.monotonic()
        task = client.create_task("Behind a flaky proxy")
        elapsed = time.monotonic() - started
        assert elapsed >= 0.9  # the server's Retry-After, not a short backoff
        posts = [r for r in proxy.requests if r.method == "POST"]
        assert len(posts) == 3
        keys = {r.headers[IDEMPOTENCY_HEADER.lower()] for r in posts}
        assert len(keys) == 1  # the same key on every attempt
        assert len({r.body for r in posts}) == 1
        assert all(r.headers["x-moxn-sdk"].startswith("moxtrace-python/") for r in posts)
        # The server made one task, whatever the attempts.
        assert client.get_task(task.id, branch_name="main").name == "Behind a flaky proxy"
    finally:
        for c in made:
            c.close()


@pytest.mark.parametrize("kind", KINDS)
def test_5xx_exhausts_retries_then_raises(
    kind: str, proxy: FaultProxy, registry_server: MoxtraceServer
) -> None:
    make, made = client_factory(kind, proxy.url, registry_server.api_key)
    try:
        client = make(max_retries=2)
        proxy.faults = [Fault(503, {"Retry-After": "0"})] * 3 + [Fault(500, code="internal")]
        with pytest.raises(ServerError) as caught:
            client.verify_access()
        assert caught.value.status_code == 503
        assert len(proxy.requests) == 3
        proxy.faults = [Fault(400, code="invalid_payload")]
        with pytest.raises(ValidationError):
            client.verify_access()  # a 4xx is never retried
        assert len(proxy.requests) == 4
    finally:
        for c in made:
            c.close()


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_listening_is_a_connection_error_within_the_deadline(kind: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    make, made = client_factory(kind, url, "moxn_dev.x")
    try:
        client = make(settings=Settings(export=False, max_retries=10, retry_deadline=1.5))
        started = time.monotonic()
        with pytest.raises(MoxnConnectionError) as caught:
            client.get_prompt("p", branch_name="main")
        elapsed = time.monotonic() - started
        assert elapsed < 1.5 + 0.5
        assert caught.value.status_code is None
        assert isinstance(caught.value, MoxnError)
        assert not isinstance(caught.value, ConnectionError)
    finally:
        for c in made:
            c.close()
