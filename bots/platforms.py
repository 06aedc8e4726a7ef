"""The platforms Switchboard answers on: one line each (see docs/architecture.md, "Adding a
platform"). The order is the banner's; each is mounted when ``configured``."""

from __future__ import annotations

from bots.platform import Platform
from bots.slack.platform import SlackPlatform
from bots.teams.platform import TeamsPlatform

PLATFORMS: tuple[Platform, ...] = (
    SlackPlatform(),
    TeamsPlatform(),
)
