"""``switchboard ingest --allow`` and ``--permissions-only``: document audiences from the
command line, set before anything is ingested."""

from __future__ import annotations

from collections.abc import Sequence

from core.identity.principals import audience_of
from core.identity.targets import audience_target
from core.settings import Settings
from store.audiences import PgAudiences
from store.database import Database


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
        return changed
    finally:
        await db.aclose()
