"""``Settings``: every option moxtrace reads from the environment, in one object.

``MOXN_*`` variables configure moxtrace itself; the standard ``OTEL_*`` variables are
honoured where OpenTelemetry defines them (see docs/configuration.md for the full list).
"""

from __future__ import annotations

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
    max_retries: int = 3
    """``MOXN_MAX_RETRIES``: retries of a failed API request."""
    content_capture: str | None = None
    """``MOXN_CONTENT_CAPTURE``: ``none``, ``moxn`` (default) or ``all``."""
    max_attribute_length: int = Field(default=128 * 1024, ge=64)
    """``MOXN_MAX_ATTRIBUTE_LENGTH``: longer attribute values are cut and marked."""
    shutdown_timeout: float = 5.0
    """``MOXN_SHUTDOWN_TIMEOUT``: seconds spent flushing at interpreter exit."""

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
