"""``People`` built from the one settings object (called by ``bots/runtime.py``; here, not in
``core/identity``, because it picks the store's cache: the core imports no store)."""

from __future__ import annotations

from redis.asyncio import Redis

from core.identity.graph import GraphGroups
from core.identity.groups import Groups
from core.identity.people import People
from core.identity.settings import IdentitySettings
from core.settings import Settings
from store.ttl_cache import ttl_cache


def build_people(settings: Settings, redis: Redis | None) -> People:
    identity = IdentitySettings.of(settings)
    cache = ttl_cache(redis)
    groups = None
    if identity.groups_from_graph and settings.sharepoint_client_secret is not None:
        groups = Groups(
            GraphGroups(
                tenant_id=str(settings.sharepoint_tenant_id),
                client_id=str(settings.sharepoint_client_id),
                client_secret=settings.sharepoint_client_secret.get_secret_value(),
                graph_url=settings.graph_url,
                authority_host=settings.entra_authority_host,
                ca_file=str(settings.graph_ca_file) if settings.graph_ca_file else None,
            ),
            cache,
            ttl=identity.groups_ttl_s,
            timeout=identity.groups_timeout_s,
        )
    return People(
        cache,
        groups=groups,
        ttl=identity.identity_ttl_s,
        merge=identity.merge_platforms,
        inline_timeout=identity.identity_inline_timeout_s,
    )
