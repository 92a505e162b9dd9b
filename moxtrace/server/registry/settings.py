"""``RegistrySettings``: the registry's options, from ``MOXN_SERVER_WEBHOOK_*``.

They sit beside ``ServerSettings`` (same prefix, so ``moxtrace serve`` reads both from one
environment) without touching it.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["RegistrySettings"]


class RegistrySettings(BaseSettings):
    """Webhook delivery and caching of the prompt registry.

    >>> RegistrySettings(webhook_max_attempts=3).webhook_backoff
    1.0
    """

    model_config = SettingsConfigDict(env_prefix="MOXN_SERVER_", extra="ignore")

    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    """``MOXN_SERVER_WEBHOOK_MAX_ATTEMPTS``: attempts per delivery before it is ``failed``."""
    webhook_backoff: float = Field(default=1.0, gt=0, le=600)
    """``MOXN_SERVER_WEBHOOK_BACKOFF``: seconds before the second attempt (then doubling)."""
    webhook_timeout: float = Field(default=10.0, gt=0, le=120)
    """``MOXN_SERVER_WEBHOOK_TIMEOUT``: seconds a receiver has to answer."""
    webhook_poll_interval: float = Field(default=1.0, gt=0, le=60)
    """``MOXN_SERVER_WEBHOOK_POLL_INTERVAL``: seconds between looks at the outbox when no
    commit woke the worker (deliveries of other server processes, retries)."""
    snapshot_cache: int = Field(default=256, ge=0)
    """``MOXN_SERVER_SNAPSHOT_CACHE``: commit snapshots kept parsed in memory."""
