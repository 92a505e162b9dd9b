"""``ServerSettings``: every option of ``moxtrace serve``, from flags or ``MOXN_SERVER_*``.

Each field is one command-line option (``--max-body-bytes``) and one environment variable
(``MOXN_SERVER_MAX_BODY_BYTES``); a flag wins over the environment. docs/server.md lists
them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_PORT", "ServerSettings"]

DEFAULT_PORT = 8700
DEFAULT_DATA_DIR = Path("~/.moxtrace")


class ServerSettings(BaseSettings):
    """Configuration of one ``moxtrace serve`` process.

    >>> settings = ServerSettings(data_dir=Path("/tmp/mx"), rate_limit=50)
    >>> settings.resolved_database_url()
    'sqlite+aiosqlite:////tmp/mx/moxtrace.db'
    """

    model_config = SettingsConfigDict(env_prefix="MOXN_SERVER_", extra="ignore")

    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    """TCP port (0 picks a free one; the chosen port is printed)."""
    data_dir: Path = DEFAULT_DATA_DIR
    """Where the SQLite database, the dev key file and the signing key live."""
    database_url: str | None = None
    """SQLAlchemy async URL; default ``sqlite+aiosqlite:///<data_dir>/moxtrace.db``."""
    sqlite_synchronous: Literal["full", "normal"] = "normal"
    """SQLite ``synchronous`` pragma. ``normal`` (WAL): a commit survives a crash or kill of
    the server; ``full`` also a power loss, for one fsync per commit."""
    db_pool_size: int = Field(default=8, ge=1, le=200)
    """Connections kept open to PostgreSQL."""

    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Largest request body accepted, counted after gzip decompression (else 413)."""
    rate_limit: float = Field(default=0.0, ge=0.0)
    """Ingest requests per second per tenant (token bucket); 0 turns the limit off (else 429)."""
    rate_limit_burst: int | None = Field(default=None, ge=1)
    """Bucket size: requests a tenant may send at once; default ``max(1, rate_limit)``."""
    max_inflight: int = Field(default=2, ge=1, le=1024)
    """Ingest requests read, parsed and written at the same time."""
    max_queued: int = Field(default=64, ge=0, le=100_000)
    """Ingest requests allowed to wait for a slot; one more is answered 503."""
    queue_timeout: float = Field(default=10.0, gt=0)
    """Seconds a request may wait for a slot before it is answered 503."""
    retry_after: int = Field(default=1, ge=1)
    """``Retry-After`` seconds sent with 503 (overload, store unavailable)."""

    queue: str | None = None
    """``kafka://HOST:PORT[,HOST:PORT...]/TOPIC``: ingest writes to this Kafka topic
    (acknowledged once the broker has it) and ``moxtrace collector`` stores it; see
    docs/pipeline.md. Default: ingest commits to the store itself."""

    query_wait: float = Field(default=10.0, ge=0)
    """Seconds a query waits for acknowledged batches to be indexed (read your writes)."""

    max_trace_spans: int = Field(default=10_000, ge=1)
    """Spans per page of ``GET /traces/{id}`` (bigger traces come in several pages)."""

    signed_url_ttl: int = Field(default=900, ge=1)
    """Seconds a content upload URL stays valid."""
    public_url: str | None = None
    """Base URL put in signed upload URLs (default: the URL the request came in on)."""

    tail_queue_size: int = Field(default=1000, ge=1)
    """Messages buffered per live-tail subscriber; older ones are dropped (and counted)."""
    max_subscribers: int = Field(default=100, ge=1)
    """Concurrent live-tail connections (more are answered 503)."""
    tail_heartbeat: float = Field(default=15.0, gt=0)
    """Seconds between keep-alive comments on an idle live tail."""

    key_cache_ttl: float = Field(default=30.0, ge=0)
    """Seconds a verified API key is remembered (a revoked key works at most this long)."""

    dev_key: bool = True
    """Create a ``dev`` tenant key on first start (when the store has no key at all)."""
    access_log: bool = False
    """Log every request (uvicorn's access log)."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """Log level of the server and uvicorn."""
    graceful_timeout: float = Field(default=10.0, gt=0)
    """Seconds in-flight requests get to finish after SIGTERM."""

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str | None) -> str | None:
        if value:
            from moxtrace.server.queue import parse_queue_url

            parse_queue_url(value)
        return value or None

    @model_validator(mode="after")
    def _expand(self) -> ServerSettings:
        self.data_dir = self.data_dir.expanduser()
        return self

    @property
    def burst(self) -> int:
        """The effective token-bucket size."""
        if self.rate_limit_burst is not None:
            return self.rate_limit_burst
        return max(1, int(self.rate_limit))

    def resolved_database_url(self) -> str:
        """The database URL in use: ``database_url`` or the SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'moxtrace.db'}"

    @property
    def dev_key_path(self) -> Path:
        """The file the dev key is written to on first start."""
        return self.data_dir / "dev-api-key"
