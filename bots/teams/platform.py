"""Microsoft Teams as a platform of the server (``bots.platform.Platform``)."""

from __future__ import annotations

from aiohttp import web

from bots.loopback import is_loopback_host
from bots.runtime import Runtime
from bots.teams.app import ROUTE, mount_teams
from bots.teams.bot import PLATFORM
from bots.teams.settings import TeamsSettings
from core.settings import Settings
from store.teams import TeamsPersonalData


class TeamsPlatform:
    """Teams: Bot Framework activities at ``/api/messages``. Without ``MICROSOFT_APP_ID`` it
    runs in anonymous local mode (the Agents Playground), logged loudly — and only on a
    loopback bind: a server listening on other interfaces does not mount it at all (404)."""

    name = PLATFORM
    label = "Teams"
    settings = TeamsSettings
    personal_data = TeamsPersonalData()
    migrations = ("0005_teams.sql",)

    def configured(self, settings: Settings) -> bool:
        return TeamsSettings.of(settings).teams_configured or is_loopback_host(settings.host)

    def mount(self, app: web.Application, runtime: Runtime) -> None:
        mount_teams(app, runtime)

    def describe(self, settings: Settings, base: str) -> str:
        if TeamsSettings.of(settings).teams_configured:
            return f"{base}{ROUTE}"
        if not is_loopback_host(settings.host):
            return (
                f"not mounted — MICROSOFT_APP_ID is not set, and anonymous local mode is only "
                f"for a server on 127.0.0.1 (this one listens on {settings.host})"
            )
        return f"{base}{ROUTE} — anonymous local mode (set MICROSOFT_APP_ID for Teams)"
