"""API key rows: create, list, revoke, and look up one key for authentication."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select, update

from moxtrace.server.apikeys import GeneratedKey, ParsedKey, generate_key, secret_matches
from moxtrace.server.store import schema

if TYPE_CHECKING:
    from moxtrace.server.store import Store

__all__ = ["KeyInfo", "KeyStore"]


@dataclass(frozen=True)
class KeyInfo:
    """A stored key, without its secret."""

    tenant: str
    key_id: str
    label: str | None
    created_us: int
    revoked_us: int | None


def _now_us() -> int:
    return int(time.time() * 1e6)


class KeyStore:
    """The ``api_keys`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, tenant: str, label: str | None = None) -> GeneratedKey:
        """A new key for ``tenant`` (the full key is in the result, and nowhere else)."""
        key = generate_key(tenant)
        async with self._store.write() as conn:
            await conn.execute(
                insert(schema.api_keys).values(
                    tenant=key.tenant,
                    key_id=key.key_id,
                    salt=key.salt,
                    secret_hash=key.secret_hash,
                    label=label,
                    created_us=_now_us(),
                )
            )
        return key

    async def count(self) -> int:
        """Keys in the store, revoked ones included."""
        async with self._store.read() as conn:
            result = await conn.execute(select(func.count()).select_from(schema.api_keys))
            return int(result.scalar_one())

    async def list_keys(self, tenant: str | None = None) -> list[KeyInfo]:
        """Every key (of one tenant), oldest first."""
        table = schema.api_keys
        query = select(
            table.c.tenant, table.c.key_id, table.c.label, table.c.created_us, table.c.revoked_us
        ).order_by(table.c.created_us, table.c.id)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        async with self._store.read() as conn:
            rows = (await conn.execute(query)).all()
        return [KeyInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def revoke(self, key_id: str, tenant: str | None = None) -> int:
        """Revoke the key(s) with ``key_id``; how many were revoked."""
        table = schema.api_keys
        stmt = (
            update(table)
            .where(table.c.key_id == key_id, table.c.revoked_us.is_(None))
            .values(revoked_us=_now_us())
        )
        if tenant is not None:
            stmt = stmt.where(table.c.tenant == tenant)
        async with self._store.write() as conn:
            result = await conn.execute(stmt)
            return int(result.rowcount)

    async def verify(self, key: ParsedKey) -> bool:
        """Whether ``key`` is a stored, unrevoked key."""
        table = schema.api_keys
        query = select(table.c.salt, table.c.secret_hash).where(
            table.c.tenant == key.tenant,
            table.c.key_id == key.key_id,
            table.c.revoked_us.is_(None),
        )
        async with self._store.read() as conn:
            row = (await conn.execute(query)).first()
        return row is not None and secret_matches(key.secret, row[0], row[1])
