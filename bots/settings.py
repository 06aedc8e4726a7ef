"""The one settings object: the core's settings and every registered platform's, read from
the environment once, at the entry point."""

from __future__ import annotations

from collections.abc import Sequence

from bots.platform import Platform
from bots.platforms import PLATFORMS
from core.handoff.settings import HandoffSettings
from core.identity.settings import IdentitySettings
from core.settings import Settings


def compose(platforms: Sequence[Platform]) -> type[Settings]:
    """One settings class made of the platforms' parts and the core's: each part's fields and
    checks, every missing setting named at once (platforms first, in registry order)."""
    parts = (*dict.fromkeys(p.settings for p in platforms), IdentitySettings, HandoffSettings)
    return type(
        "AppSettings",
        (*parts, Settings),
        {"__doc__": "The core's settings and each platform's.", "__module__": __name__},
    )


AppSettings = compose(PLATFORMS)
