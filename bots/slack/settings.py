"""Slack's settings: its own part of the one settings object (``bots.settings.AppSettings``).

The environment names are the ones Slack deployments already set (``SLACK_…``).
"""

from __future__ import annotations

from typing import Self, cast

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from core.settings import Settings, SettingsPart


class SlackSettings(SettingsPart):
    """Slack: one workspace by token, or many through OAuth installs; HTTP events or Socket
    Mode; how answers pace the Web API."""

    model_config = SettingsConfigDict(env_prefix="SLACK_")

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_client_id: str | None = Field(None, alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(None, alias="SLACK_CLIENT_SECRET")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    # OAuth installs: the bot scopes asked for (comma-separated; default: the manifest's) and
    # the redirect URL registered with Slack (unset: Slack uses the app's only one).
    slack_scopes: str | None = Field(None, alias="SLACK_SCOPES")
    slack_redirect_uri: str | None = Field(None, alias="SLACK_REDIRECT_URI")
    # Pacing: Slack counts calls per method per workspace over this window (60 s; tests shrink
    # it); one answer appends at most every SLACK_STREAM_INTERVAL seconds (less often when the
    # workspace's streams would outrun Tier 4: bots/slack/append_share.py). SLACK_STREAMING=false
    # posts a placeholder and edits it instead of streaming.
    slack_pacing_window_s: float = Field(60.0, alias="SLACK_PACING_WINDOW_S", gt=0)
    slack_stream_interval_s: float = Field(0.5, alias="SLACK_STREAM_INTERVAL", ge=0)
    slack_streaming: bool = Field(True, alias="SLACK_STREAMING")
    # Answer messages from other bots (never our own); off by default to avoid bot loops.
    slack_answer_bots: bool = Field(False, alias="SLACK_ANSWER_BOTS")
    # "Talk to a person" posts here (a channel id the bot is a member of); unset: no channel.
    slack_handoff_channel: str | None = Field(None, alias="SWITCHBOARD_HANDOFF_SLACK_CHANNEL")


    def _missing(self) -> list[str]:
        missing: list[str] = []
        slack_oauth = self.slack_client_id is not None or self.slack_client_secret is not None
        if self.slack_bot_token and not self.slack_signing_secret and not self.slack_app_token:
            missing.append(
                "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is missing: Slack's HTTP events "
                "cannot be verified without it (or set SLACK_APP_TOKEN to use Socket Mode)"
            )
        if slack_oauth and not (self.slack_client_id and self.slack_client_secret):
            given, absent = (
                ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
                if self.slack_client_id
                else ("SLACK_CLIENT_SECRET", "SLACK_CLIENT_ID")
            )
            missing.append(
                f"{given} is set but {absent} is missing: the OAuth install flow needs both"
            )
        if slack_oauth and not self.slack_signing_secret:
            missing.append(
                "SLACK_CLIENT_ID/SLACK_CLIENT_SECRET are set but SLACK_SIGNING_SECRET is missing: "
                "the install flow and events arrive over HTTP and must be verified"
            )
        if (self.slack_signing_secret or self.slack_app_token) and not (
            self.slack_bot_token or slack_oauth
        ):
            given = "SLACK_SIGNING_SECRET" if self.slack_signing_secret else "SLACK_APP_TOKEN"
            missing.append(
                f"{given} is set but Slack has no way to answer: set SLACK_BOT_TOKEN (one workspace) "
                "or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (installs through OAuth)"
            )
        return [*missing, *super()._missing()]

    @property
    def slack_configured(self) -> bool:
        # HTTP events need the signing secret; Socket Mode (SLACK_APP_TOKEN) does not.
        return (self.slack_signing_secret is not None or self.slack_app_token is not None) and (
            self.slack_bot_token is not None or self.slack_client_id is not None
        )

    @classmethod
    def of(cls, settings: Settings) -> Self:
        """Slack's part of the one settings object; its defaults when it has none."""
        if isinstance(settings, cls):
            return settings
        return cast(Self, cls.model_construct())
