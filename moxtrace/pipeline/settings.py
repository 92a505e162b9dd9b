"""``CollectorSettings``: every option of ``moxtrace collector``, from flags or
``MOXN_COLLECTOR_*`` environment variables (a flag wins). docs/pipeline.md lists them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from moxtrace.pipeline.topic import KafkaTopicUrl

__all__ = ["CollectorSettings", "parse_listen"]

_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` as (host, port); ``ValueError`` otherwise."""
    match = _LISTEN.fullmatch(value.strip())
    if match is None or int(match.group(2)) > 65535:
        raise ValueError(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:4318")
    return match.group(1).strip("[]"), int(match.group(2))


class CollectorSettings(BaseSettings):
    """Configuration of one ``moxtrace collector`` process.

    >>> CollectorSettings(kafka="kafka://127.0.0.1:9092/moxtrace.spans",
    ...                   sinks=["store:postgresql+asyncpg://moxtrace@db/moxtrace"])
    """

    model_config = SettingsConfigDict(env_prefix="MOXN_COLLECTOR_", extra="ignore")

    kafka: str | None = None
    """Source topic, ``kafka://HOST:PORT[,HOST:PORT...]/TOPIC``."""
    group: str = Field(default="moxtrace-collector", min_length=1, max_length=249)
    """Kafka consumer group: collectors in one group share the topic's partitions."""
    dead_letter_topic: str | None = None
    """Where undecodable records go (default ``<topic>.dlq``)."""
    listen: str | None = None
    """``HOST:PORT`` of the HTTP listener: ``/health``, ``/ready``, ``/stats`` and the
    OTLP/HTTP receiver ``POST /v1/traces`` (off by default)."""
    sinks: list[str] = Field(default_factory=list)
    """Destinations, ``KIND:TARGET`` (``store:URL``, ``otlp:URL``, ``moxn:URL``)."""
    config: Path | None = None
    """Plugin configuration file (YAML, TOML or JSON) with a ``plugins`` list."""
    tenant: str = "dev"
    """Tenant of records without a ``moxtrace-tenant`` header and of OTLP/HTTP requests."""

    max_poll_records: int = Field(default=500, ge=1, le=100_000)
    """Records taken from Kafka per batch."""
    max_inflight_batches: int = Field(default=4, ge=1, le=256)
    """Batches being delivered at once; when all are busy, consumption pauses."""
    batch_spans: int = Field(default=2000, ge=1, le=100_000)
    """Largest number of spans per sink write."""
    max_buffered_spans: int = Field(default=20_000, ge=1, le=10_000_000)
    """Spans waiting for the rest of their events; over it the oldest is released."""
    reassembly_timeout: float = Field(default=30.0, gt=0)
    """Seconds a span waits for its end event before it is released as it is."""
    commit_interval: float = Field(default=1.0, gt=0)
    """Seconds between offset commits (offsets only move past delivered records)."""
    session_timeout: float = Field(default=10.0, ge=1, le=3600)
    """Seconds without heartbeat after which Kafka gives a collector's partitions away."""
    max_poll_interval: float = Field(default=300.0, ge=1)
    """Seconds between polls after which the consumer is deemed stuck (polls continue,
    paused, while sinks are slow)."""
    sink_retry_max: float = Field(default=30.0, gt=0)
    """Longest wait between retries of a sink that cannot take a batch."""
    shutdown_timeout: float = Field(default=30.0, gt=0)
    """Seconds given to in-flight deliveries after SIGTERM before the rest is left for
    redelivery."""
    index_sweep_interval: float = Field(default=30.0, gt=0)
    """Store sink: seconds between sweeps that index batches a dead collector committed
    but never indexed."""
    db_pool_size: int = Field(default=8, ge=1, le=200)
    """Store sink: database connections."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """OTLP/HTTP receiver: largest request body after decompression (else 413)."""
    request_timeout: float = Field(default=30.0, gt=0)
    """OTLP/HTTP receiver: seconds a request waits for its spans to be delivered (else
    503 + Retry-After; the client retries)."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """Log level."""

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not _TENANT.fullmatch(value):
            raise ValueError("1-63 letters, digits, '_' or '-', starting with a letter or digit")
        return value

    @field_validator("kafka")
    @classmethod
    def _kafka(cls, value: str | None) -> str | None:
        if value is not None:
            KafkaTopicUrl.parse(value)
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value

    @model_validator(mode="after")
    def _sources_and_sinks(self) -> CollectorSettings:
        if self.kafka is None and self.listen is None:
            raise ValueError("no source: give --kafka URL and/or --listen HOST:PORT")
        if not self.sinks:
            raise ValueError("no sink: give at least one --sink (store:URL, otlp:URL, moxn:URL)")
        return self

    @property
    def topic(self) -> KafkaTopicUrl | None:
        """The parsed ``kafka`` URL."""
        return KafkaTopicUrl.parse(self.kafka) if self.kafka else None

    @property
    def dead_letters(self) -> str | None:
        """The dead-letter topic in use."""
        topic = self.topic
        if topic is None:
            return None
        return self.dead_letter_topic or f"{topic.topic}.dlq"
