"""Microsoft Teams as a platform of the server (``bots.platform.Platform``)."""

from __future__ import annotations

from aiohttp import web

from bots.runtime import Runtime
from bots.teams.app import ROUTE, mount_teams
from bots.teams.bot import PLATFORM
from bots.teams.settings import TeamsSettings
from core.settings import Settings
from store.teams import TeamsPersonalData


class TeamsPlatform:
    """Teams: Bot Framework activities at ``/api/messages``; always mounted — without
    ``MICROSOFT_APP_ID`` in anonymous local mode (the Agents Playground), logged loudly."""

    name = PLATFORM
    label = "Teams"
    settings = TeamsSettings
    personal_data = TeamsPersonalData()
    migrations = ("0005_teams.sql",)

    def configured(self, settings: Settings) -> bool:
        return True

    def mount(self, app: web.Application, runtime: Runtime) -> None:
        mount_teams(app, runtime)

    def describe(self, settings: Settings, base: str) -> str:
        if TeamsSettings.of(settings).teams_configured:
            return f"{base}{ROUTE}"
        return f"{base}{ROUTE} — anonymous local mode (set MICROSOFT_APP_ID for Teams)"
