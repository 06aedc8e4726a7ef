"""Slack as a platform of the server (``bots.platform.Platform``)."""

from __future__ import annotations

from aiohttp import web

from bots.runtime import Runtime
from bots.slack.events import PLATFORM
from bots.slack.http import describe_slack, mount_slack
from bots.slack.settings import SlackSettings
from core.settings import Settings


class SlackPlatform:
    """Slack: the Events API over HTTP or Socket Mode, OAuth installs, App Home."""

    name = PLATFORM
    label = "Slack"
    settings = SlackSettings
    personal_data = None  # its tables hold installs and tokens, nothing about a person
    migrations = ("0004_slack.sql",)

    def configured(self, settings: Settings) -> bool:
        return SlackSettings.of(settings).slack_configured

    def mount(self, app: web.Application, runtime: Runtime) -> None:
        mount_slack(app, runtime)

    def describe(self, settings: Settings, base: str) -> str:
        slack = SlackSettings.of(settings)
        if not slack.slack_configured:
            return "not configured (set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN)"
        return describe_slack(slack, base)
