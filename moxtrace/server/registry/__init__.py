"""The prompt registry of ``moxtrace serve``: tasks, prompts, messages, properties and
schemas per tenant, versioned like git, with signed webhooks on every commit.

Modules, from the pure core outwards:

- ``state``: a task's content at one version and every edit of it (pure functions);
- ``tables``, ``store``: where states, commits, webhooks and replies are kept;
- ``payloads``, ``routes``: the HTTP API of docs/registry-api.md;
- ``delivery``: the worker that sends the webhook outbox;
- ``service``, ``settings``: wiring into the server's lifespan.
"""

from __future__ import annotations

from moxtrace.server.registry.service import Registry, registry_of
from moxtrace.server.registry.settings import RegistrySettings
from moxtrace.server.registry.tables import create_tables

__all__ = ["Registry", "RegistrySettings", "create_tables", "registry_of"]
