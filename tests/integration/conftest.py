"""Session fixtures: real Kafka, Phoenix and PostgreSQL servers on 127.0.0.1.

Each service starts once per test session, the first time a test asks for it, in a temporary
directory; it is stopped by pid when the session ends, whether tests passed or not. A service that
is not installed FAILS the tests that need it (it does not skip them): run .ci/services.sh.
See docs/services.md.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# `tests` has no __init__.py; make `tests.support` importable however pytest was launched.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.support import ServiceNotInstalledError  # noqa: E402
from tests.support import kafka as kafka_support  # noqa: E402
from tests.support import phoenix as phoenix_support  # noqa: E402
from tests.support import postgres as postgres_support  # noqa: E402
from tests.support.kafka import KafkaBroker  # noqa: E402
from tests.support.phoenix import PhoenixServer  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402


def _stop_services_on_sigterm() -> None:
    """Make SIGTERM to pytest run the session teardown (which stops the services by pid).

    Python's default SIGTERM action kills the interpreter without running fixture finalizers,
    which would orphan the servers. Only installed if nobody else handles SIGTERM.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def _require(check: Callable[[], object]) -> None:
    """Call an install check; turn a missing install into a test failure with the fix."""
    _stop_services_on_sigterm()
    try:
        check()
    except ServiceNotInstalledError as exc:
        message = str(exc)
    else:
        return
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def kafka_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """The session's Kafka broker (KRaft, single node): address, pid, data dir."""
    _require(kafka_support.require_installed)
    with kafka_support.kafka_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_broker(kafka_service: KafkaBroker) -> str:
    """Bootstrap servers of the session's Kafka broker: "127.0.0.1:PORT"."""
    return kafka_service.bootstrap


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixServer]:
    """The session's Arize Phoenix: ``.base_url``, ``.otlp_traces_endpoint``, ``.pid``."""
    _require(phoenix_support.require_installed)
    with phoenix_support.phoenix_server(tmp_path_factory.mktemp("phoenix")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server with an empty ``moxtrace`` database."""
    _require(postgres_support.require_installed)
    with postgres_support.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_service: PostgresServer) -> str:
    """postgresql+asyncpg://postgres@127.0.0.1:PORT/moxtrace"""
    return postgres_service.url


# --- moxtrace serve (tests/support/server.py) ---------------------------------------------

from tests.support.server import (  # noqa: E402
    MoxtraceServer,
    fresh_postgres_database,
)

ServerFactory = Callable[..., MoxtraceServer]


@pytest.fixture
def moxtrace_server_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerFactory]:
    """Start ``moxtrace serve`` processes: ``factory(database="sqlite"|"postgres", **options)``.

    Options are command-line flags (``max_body_bytes=2048``, ``rate_limit=5``); each server
    gets its own data dir (and its own PostgreSQL database), a free port and a dev key.
    Every server is stopped by pid when the test ends. ``server.kill()`` / ``.restart()``
    for fault tests.
    """
    with contextlib.ExitStack() as stack:

        def factory(database: str = "sqlite", **options: object) -> MoxtraceServer:
            database_url = None
            if database == "postgres":
                base_url: str = request.getfixturevalue("postgres_url")
                database_url = stack.enter_context(fresh_postgres_database(base_url))
            elif database != "sqlite":
                raise ValueError(f"database must be 'sqlite' or 'postgres', not {database!r}")
            server = MoxtraceServer(
                tmp_path_factory.mktemp("moxtrace-serve"),
                database_url=database_url,
                options=options,
            )
            stack.callback(server.stop)
            return server.start()

        yield factory


@pytest.fixture
def moxtrace_server(moxtrace_server_factory: ServerFactory) -> MoxtraceServer:
    """A fresh ``moxtrace serve`` on SQLite (``.base_url``, ``.api_key``, ``.pid``, ...)."""
    return moxtrace_server_factory("sqlite")


@pytest.fixture
def moxtrace_server_pg(moxtrace_server_factory: ServerFactory) -> MoxtraceServer:
    """A fresh ``moxtrace serve`` on its own PostgreSQL database."""
    return moxtrace_server_factory("postgres")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_moxtrace_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MoxtraceServer]:
    """One server per test module and database (parametrized: sqlite, postgres).

    Shared by the module's tests: give each test its own trace ids (or tenant).
    """
    with contextlib.ExitStack() as stack:
        database_url = None
        if request.param == "postgres":
            database_url = stack.enter_context(
                fresh_postgres_database(request.getfixturevalue("postgres_url"))
            )
        server = MoxtraceServer(
            tmp_path_factory.mktemp(f"moxtrace-serve-{request.param}"), database_url=database_url
        )
        stack.callback(server.stop)
        yield server.start()
