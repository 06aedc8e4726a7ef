"""``switchboard ingest --allow`` and ``--permissions-only``: document audiences from the
command line, set before anything is ingested; ``--permissions-only`` also lists SharePoint
and Confluence again to mirror who may read each item, reading no content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.identity.principals import audience_of
from core.identity.targets import audience_target
from core.ingest.connectors.base import Source
from core.ingest.connectors.permissions import Mirrored, PermissionSink
from core.ingest.connectors.web import is_web_address
from core.ingest.sources import is_remote_target, sources_for
from core.settings import Settings
from store.audiences import PgAudiences
from store.database import Database
from store.sources import KnowledgeSources


async def set_audiences(
    settings: Settings, targets: Sequence[str], allow: Sequence[str], permissions_only: bool
) -> int:
    """Record ``allow`` for each target (checked first: an unknown principal raises
    ``UnknownPrincipal`` and nothing is changed), then apply every target's audience to the
    documents stored. Returns how many documents changed audience."""
    audience = audience_of(allow) if allow else None
    if not allow and not permissions_only:
        return 0
    db = await Database.connect(settings)
    try:
        audiences = PgAudiences(db.pool)
        changed = 0
        if allow:
            for target in targets:
                changed += await audiences.allow(audience_target(target, settings), audience)
        if permissions_only:
            changed += await audiences.reapply()
            changed += await mirror_sources(
                await _remote_sources(settings, KnowledgeSources(db.pool)), audiences
            )
        return changed
    finally:
        await db.aclose()


async def _remote_sources(settings: Settings, known: KnowledgeSources) -> list[Source]:
    """The SharePoint and Confluence sources the settings configure, and those an ingest
    named before (``confluence:KEY``), each once."""
    targets = ["sharepoint"] if settings.sharepoint_site else []
    if settings.confluence_url:
        targets += [f"confluence:{space}" for space in settings.confluence_spaces]
    targets += [
        s.uri for s in await known.all() if is_remote_target(s.uri) and not is_web_address(s.uri)
    ]
    sources: list[Source] = []
    try:
        for target in dict.fromkeys(t.lower() if t.lower() == "sharepoint" else t for t in targets):
            sources.extend(sources_for(target, settings))  # a missing setting: nothing changes
    except BaseException:
        for source in sources:
            await source.aclose()
        raise
    return sources


async def mirror_sources(sources: Sequence[Source], audiences: PermissionSink) -> int:
    """List each SharePoint and Confluence source (no content is read; all are closed after):
    each listing records who may read each item and applies it. A source that cannot be
    listed raises, and its documents keep the audiences they had."""
    counting = CountingSink(audiences)
    try:
        for source in sources:
            if hasattr(source, "permissions"):
                source.permissions = counting  # type: ignore[attr-defined]
                await source.list()
    finally:
        for source in sources:
            await source.aclose()
    return counting.changed


class CountingSink:
    """A ``PermissionSink`` that counts the documents whose audience changed."""

    def __init__(self, sink: PermissionSink) -> None:
        self._sink = sink
        self.changed = 0

    async def mirror(self, scope: str, permissions: Mapping[str, Mirrored]) -> int:
        found = await self._sink.mirror(scope, permissions)
        self.changed += found
        return found
