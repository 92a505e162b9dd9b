"""``Registry``: the registry's store, webhook dispatcher and settings, for one server.

Started in the app's lifespan (after the server's ``Services``) and reached from a route as
``registry_of(request)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from moxtrace.server.registry.delivery import WebhookDispatcher
from moxtrace.server.registry.settings import RegistrySettings
from moxtrace.server.registry.store import RegistryStore
from moxtrace.server.store import Store

__all__ = ["Registry", "registry_of"]


@dataclass
class Registry:
    """What the registry routes share."""

    store: RegistryStore
    dispatcher: WebhookDispatcher
    settings: RegistrySettings

    @classmethod
    def start(
        cls, store: Store, retry_after: int = 1, settings: RegistrySettings | None = None
    ) -> Registry:
        """Wire the registry around an open store and start the webhook worker."""
        settings = settings if settings is not None else RegistrySettings()
        registry_store = RegistryStore(store, retry_after, settings.snapshot_cache)
        dispatcher = WebhookDispatcher(registry_store, settings)
        dispatcher.start()
        return cls(registry_store, dispatcher, settings)

    async def close(self) -> None:
        """Stop the webhook worker (undelivered events stay in the outbox)."""
        await self.dispatcher.close()


def registry_of(request: Request) -> Registry:
    """The ``Registry`` of the app serving ``request``."""
    registry: Registry = request.app.state.registry
    return registry
