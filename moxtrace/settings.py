"""``Settings``: every option moxtrace reads from the environment, in one object.

``MOXN_*`` variables configure moxtrace itself; the standard ``OTEL_*`` variables are
honoured where OpenTelemetry defines them (see docs/configuration.md for the full list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_BASE_URL", "Settings"]

DEFAULT_BASE_URL = "http://127.0.0.1:8700"


class Settings(BaseSettings):
    """Configuration read from ``MOXN_*`` and ``OTEL_*`` environment variables.

    Every field can also be passed as a keyword argument, which wins over the
    environment: ``Settings(base_url="http://127.0.0.1:9000")``.
    """

    model_config = SettingsConfigDict(env_prefix="MOXN_", extra="ignore", populate_by_name=True)

    api_key: SecretStr | None = None
    """``MOXN_API_KEY``: the key sent as ``x-api-key``."""
    base_url: str = DEFAULT_BASE_URL
    """``MOXN_BASE_URL``: the Moxn platform API (``moxtrace serve`` listens on 8700)."""
    debug: bool = False
    """``MOXN_DEBUG=1``: log every API request and response at DEBUG level."""
    timeout: float = 30.0
    """``MOXN_TIMEOUT``: seconds per API request."""
    max_retries: int = Field(default=3, ge=0)
    """``MOXN_MAX_RETRIES``: retries of a failed API request."""
    retry_deadline: float = Field(default=60.0, gt=0)
    """``MOXN_RETRY_DEADLINE``: seconds an API call may take over all its attempts."""
    prompt_cache_size: int = Field(default=1024, ge=0)
    """``MOXN_PROMPT_CACHE_SIZE``: prompts and tasks read by commit kept in memory (0: none)."""
    content_capture: str | None = None
    """``MOXN_CONTENT_CAPTURE``: ``none``, ``moxn`` (default) or ``all``."""
    max_attribute_length: int = Field(default=128 * 1024, ge=64)
    """``MOXN_MAX_ATTRIBUTE_LENGTH``: longer attribute values are cut and marked."""
    shutdown_timeout: float = 5.0
    """``MOXN_SHUTDOWN_TIMEOUT``: seconds spent flushing at interpreter exit."""

    # The Moxn span exporter (docs/exporters.md).
    export: bool = True
    """``MOXN_EXPORT=false``: never export spans to Moxn, even with an API key."""
    export_timeout: float = Field(default=10.0, gt=0)
    """``MOXN_EXPORT_TIMEOUT``: seconds per ingest request of the Moxn exporter."""
    export_deadline: float = Field(default=30.0, gt=0)
    """``MOXN_EXPORT_DEADLINE``: seconds the Moxn exporter spends on one batch, retries
    included, before spooling (or dropping) it."""
    export_compression: Literal["auto", "gzip", "none"] = "auto"
    """``MOXN_EXPORT_COMPRESSION``: ``gzip``, ``none``, or ``auto`` (default): gzip, except
    to a loopback address (``localhost``, ``127.0.0.0/8``, ``::1``), where compressing costs
    CPU at both ends and saves nothing."""
    spool_dir: Path | None = None
    """``MOXN_SPOOL_DIR``: keep batches that could not be delivered in this directory and
    send them later, also after a restart (at-least-once delivery). Unset: no spool."""
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    """``MOXN_SPOOL_MAX_BYTES``: the spool's size bound; the oldest batches are dropped
    (and counted) to make room."""
    spool_replay_interval: float = Field(default=5.0, gt=0)
    """``MOXN_SPOOL_REPLAY_INTERVAL``: seconds between attempts to send spooled batches."""

    sdk_disabled: bool = Field(default=False, validation_alias="OTEL_SDK_DISABLED")
    """``OTEL_SDK_DISABLED=true``: every span and event becomes a no-op."""
    genai_capture_message_content: str | None = Field(
        default=None, validation_alias="OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    )
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``: ``true`` sends content to
    every destination, ``false`` records none."""
    span_attribute_count_limit: int = Field(
        default=1024,
        ge=1,
        validation_alias=AliasChoices(
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"
        ),
    )
    span_event_count_limit: int = Field(
        default=1024, ge=1, validation_alias="OTEL_SPAN_EVENT_COUNT_LIMIT"
    )
    bsp_max_queue_size: int = Field(default=2048, ge=1, validation_alias="OTEL_BSP_MAX_QUEUE_SIZE")
    bsp_schedule_delay_ms: int = Field(
        default=5000, ge=0, validation_alias="OTEL_BSP_SCHEDULE_DELAY"
    )
    bsp_max_export_batch_size: int = Field(
        default=512, ge=1, validation_alias="OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
    )
    bsp_export_timeout_ms: int = Field(
        default=30000, ge=0, validation_alias="OTEL_BSP_EXPORT_TIMEOUT"
    )
    otlp_endpoint: str | None = Field(default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    """``OTEL_EXPORTER_OTLP_ENDPOINT``: also export spans over OTLP/HTTP (protobuf) to
    this base URL (``/v1/traces`` is appended)."""
    otlp_traces_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    """``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: the same, as the full traces URL; wins over
    ``OTEL_EXPORTER_OTLP_ENDPOINT``. Headers come from ``OTEL_EXPORTER_OTLP_HEADERS``."""
