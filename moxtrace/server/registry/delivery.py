"""``WebhookDispatcher``: delivers the webhook outbox, retrying with backoff.

A commit inserts its deliveries (``registry_deliveries``) in its own transaction; this worker
sends them. It wakes when told a commit happened (``notify``) and otherwise polls, so
deliveries written by another server process on the same database go out too. A delivery
is claimed with a lease before it is sent, so two workers never send it at once; a worker
that dies mid-send leaves a lease that expires, and the delivery is sent again (receivers
drop repeats by event ``id``).

Each attempt is signed afresh (``X-Moxn-Signature: t=<now>,v1=...``) with the webhook's
secret, and with its previous secret too during a rotation's grace period. A 2xx within the
timeout is a delivery; anything else waits ``backoff * 2**(attempts-1)`` seconds (at most
10 minutes, with a little jitter) until ``max_attempts`` is reached, then the delivery is
marked ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select, update

from moxtrace._version import __version__
from moxtrace.server.registry import tables
from moxtrace.server.registry.settings import RegistrySettings
from moxtrace.server.registry.store import IDEMPOTENCY_TTL_US, RegistryStore, now_us
from moxtrace.webhooks import SIGNATURE_HEADER, sign

__all__ = ["DeliveryStats", "WebhookDispatcher", "backoff_us"]

_log = logging.getLogger("moxtrace.server.registry")
_MAX_WAIT_US = 600 * 1_000_000
_BATCH = 32


def backoff_us(attempts: int, base: float, rand: Callable[[], float] = random.random) -> int:
    """Microseconds before attempt ``attempts + 1``: ``base * 2**(attempts-1)``, ±10 %,
    at most 10 minutes.

    >>> [backoff_us(n, 1.0, rand=lambda: 0.5) // 1_000_000 for n in (1, 2, 3)]
    [1, 2, 4]
    """
    wait = min(base * 2 ** min(max(attempts - 1, 0), 30), 600.0)
    wait *= 0.9 + 0.2 * rand()
    return min(int(wait * 1_000_000), _MAX_WAIT_US)


class DeliveryStats:
    """Counts since the dispatcher started."""

    def __init__(self) -> None:
        self.delivered = 0
        self.retried = 0
        self.failed = 0


class WebhookDispatcher:
    """Sends pending deliveries until closed.

    Args:
        store: the registry store.
        settings: attempts, backoff, timeout and poll interval.
        transport: an httpx transport (tests); default httpx's own.
    """

    def __init__(
        self,
        store: RegistryStore,
        settings: RegistrySettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._transport = transport
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._closing = False
        self._last_purge = 0.0
        self.stats = DeliveryStats()

    def start(self) -> None:
        """Start the worker task on the running loop."""
        if self._task is None:
            self._http = httpx.AsyncClient(
                transport=self._transport,
                timeout=self._settings.webhook_timeout,
                follow_redirects=False,
                headers={"user-agent": f"moxtrace-webhooks/{__version__}"},
            )
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="moxtrace-webhooks"
            )

    def notify(self) -> None:
        """A commit queued deliveries: look now rather than at the next poll."""
        self._wake.set()

    async def close(self) -> None:
        """Stop the worker (a send in progress is abandoned; its lease will expire)."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                sent = await self.run_once()
                await self._purge()
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("registry: webhook dispatch failed; retrying soon")
                sent = 0
            if sent:
                continue  # there may be more due right away
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.webhook_poll_interval)

    async def run_once(self) -> int:
        """Send every delivery due now (claimed with a lease); how many were attempted."""
        due = await self._claim()
        if due:
            await asyncio.gather(*(self._deliver(row) for row in due))
        return len(due)

    async def _claim(self) -> list[dict[str, Any]]:
        t = tables.deliveries
        now = now_us()
        lease = now + int((self._settings.webhook_timeout * 2 + 5) * 1_000_000)
        async with self._store.read() as conn:
            rows = (
                await conn.execute(
                    select(t.c.id, t.c.lease_until_us)
                    .where(t.c.status == "pending", t.c.next_attempt_us <= now)
                    .order_by(t.c.next_attempt_us, t.c.id)
                    .limit(_BATCH)
                )
            ).all()
        claimed: list[int] = []
        for row in rows:
            if row[1] is not None and row[1] > now:
                continue
            async with self._store.transaction() as conn:
                result = await conn.execute(
                    update(t)
                    .where(
                        t.c.id == row[0],
                        t.c.status == "pending",
                        (t.c.lease_until_us.is_(None)) | (t.c.lease_until_us <= now),
                    )
                    .values(lease_until_us=lease)
                )
                if result.rowcount == 1:
                    claimed.append(row[0])
        if not claimed:
            return []
        async with self._store.read() as conn:
            result = await conn.execute(select(t).where(t.c.id.in_(claimed)))
            return [dict(r._mapping) for r in result]

    async def _deliver(self, row: dict[str, Any]) -> None:
        t = tables.deliveries
        attempts = int(row["attempts"]) + 1
        status_code: int | None = None
        error: str | None = None
        try:
            async with self._store.read() as conn:
                webhook = await self._store.webhook(conn, row["tenant"], row["webhook_id"])
        except Exception:
            webhook = None
        if webhook is None:
            values: dict[str, Any] = {
                "status": "failed",
                "attempts": attempts - 1,
                "last_error": "webhook deleted",
                "lease_until_us": None,
            }
        else:
            body = row["body"].encode()
            headers = {
                "content-type": "application/json",
                "x-moxn-event": row["event_type"],
                "x-moxn-delivery": str(row["id"]),
                "x-moxn-webhook-id": webhook.id,
                SIGNATURE_HEADER: sign(body, webhook.secrets(now_us()), int(time.time())),
            }
            assert self._http is not None
            try:
                response = await self._http.post(webhook.url, content=body, headers=headers)
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            if error is None:
                self.stats.delivered += 1
                values = {
                    "status": "delivered",
                    "attempts": attempts,
                    "last_status_code": status_code,
                    "last_error": None,
                    "delivered_us": now_us(),
                    "lease_until_us": None,
                }
            elif attempts >= self._settings.webhook_max_attempts:
                self.stats.failed += 1
                _log.warning(
                    "registry: webhook %s gave up on event %s after %d attempts: %s",
                    webhook.url,
                    row["event_id"],
                    attempts,
                    error,
                )
                values = {
                    "status": "failed",
                    "attempts": attempts,
                    "last_status_code": status_code,
                    "last_error": error,
                    "lease_until_us": None,
                }
            else:
                self.stats.retried += 1
                values = {
                    "attempts": attempts,
                    "last_status_code": status_code,
                    "last_error": error,
                    "next_attempt_us": now_us()
                    + backoff_us(attempts, self._settings.webhook_backoff),
                    "lease_until_us": None,
                }
        try:
            async with self._store.transaction() as conn:
                await conn.execute(update(t).where(t.c.id == row["id"]).values(**values))
        except Exception:
            # The lease expires and the delivery is attempted again: at least once.
            _log.warning("registry: could not record delivery %s", row["id"], exc_info=True)

    async def _purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < 3600:
            return
        self._last_purge = now
        await self._store.purge_idempotency(now_us() - IDEMPOTENCY_TTL_US)
