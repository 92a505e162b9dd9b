"""``Services``: the objects one server process shares between its routes.

Built once at startup (``Services.start``) and reached from a route as
``services_of(request)``. Nothing here is global, so tests can run several apps in one
process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from moxtrace.server.auth import Authenticator
from moxtrace.server.broadcast import Broadcaster
from moxtrace.server.errors import rate_limited
from moxtrace.server.gate import IngestGate
from moxtrace.server.indexer import Indexer
from moxtrace.server.ingest import Ingestor
from moxtrace.server.ratelimit import TenantRateLimiter
from moxtrace.server.settings import ServerSettings
from moxtrace.server.signing import UrlSigner
from moxtrace.server.store import Store

__all__ = ["DEV_TENANT", "Services", "ensure_dev_key", "services_of"]

_log = logging.getLogger("moxtrace.server")

DEV_TENANT = "dev"


@dataclass
class Services:
    """Store, auth, limits, live tail and ingest of one server."""

    settings: ServerSettings
    store: Store
    auth: Authenticator
    limiter: TenantRateLimiter
    gate: IngestGate
    broadcaster: Broadcaster
    signer: UrlSigner
    indexer: Indexer
    ingestor: Ingestor
    started_at: float

    @classmethod
    async def start(cls, settings: ServerSettings, store: Store) -> Services:
        """Wire everything around an open store."""
        broadcaster = Broadcaster(settings.tail_queue_size, settings.max_subscribers)
        gate = IngestGate(
            settings.max_inflight, settings.max_queued, settings.queue_timeout, settings.retry_after
        )
        indexer = Indexer(store, broadcaster, yield_to=gate)
        indexer.start()
        ingestor = Ingestor(store, indexer, settings.retry_after)
        if settings.queue:
            from moxtrace.server.queue import QueueIngestor

            ingestor = QueueIngestor(store, indexer, settings.retry_after, settings.queue)
            await ingestor.start()
        return cls(
            settings=settings,
            store=store,
            auth=Authenticator(store.keys, ttl=settings.key_cache_ttl),
            limiter=TenantRateLimiter(settings.rate_limit, settings.burst),
            gate=gate,
            broadcaster=broadcaster,
            signer=UrlSigner(await store.signing_key(), settings.signed_url_ttl),
            indexer=indexer,
            ingestor=ingestor,
            started_at=time.time(),
        )

    def check_rate(self, tenant: str) -> None:
        """Raise 429 (with ``Retry-After``) when ``tenant`` is over its rate."""
        wait = self.limiter.check(tenant)
        if wait:
            raise rate_limited(wait)

    async def settled(self) -> None:
        """Wait (at most ``query_wait`` s) until what was acknowledged is indexed.

        Queries call it first, so a client reads what it wrote.
        """
        await self.indexer.caught_up(self.settings.query_wait)

    async def close(self) -> None:
        """End live tails, index what is queued, close the store."""
        self.broadcaster.close()
        try:
            await self.ingestor.close()
            await self.indexer.close()
        finally:
            await self.store.close()


def services_of(request: Request) -> Services:
    """The ``Services`` of the app serving ``request``."""
    services: Services = request.app.state.services
    return services


async def ensure_dev_key(
    settings: ServerSettings, store: Store, announce: Callable[[str], None]
) -> str | None:
    """On first start (no key at all), create a ``dev`` key, save it and announce it.

    The key is written to ``settings.dev_key_path`` (mode 0600) so scripts and tests can
    read it. Returns the new key, or None when keys already existed.
    """
    if await store.keys.count() > 0:
        if settings.dev_key_path.is_file():
            announce(f"dev API key: in {settings.dev_key_path}")
        return None
    key = await store.keys.create(DEV_TENANT, label="dev key, created on first start")
    path = settings.dev_key_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.api_key + "\n")
    os.replace(tmp, path)
    announce(f"dev API key (tenant {DEV_TENANT!r}): {key.api_key}  (saved to {path})")
    _log.info("created dev API key %s for tenant %r", key.key_id, DEV_TENANT)
    return key.api_key
