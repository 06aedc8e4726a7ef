"""Microsoft Teams' settings: its own part of the one settings object
(``bots.settings.AppSettings``).

The environment names are the ones Teams deployments already set: the Azure Bot registration's
``MICROSOFT_APP_…`` (as botbuilder names them) and ``TEAMS_…``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self, cast

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from core.settings import Settings, SettingsPart


class TeamsSettings(SettingsPart):
    """Teams: the bot's Azure registration, who signs incoming tokens, how answers pace the
    Bot Connector."""

    model_config = SettingsConfigDict(env_prefix="TEAMS_")

    microsoft_app_id: str | None = Field(None, alias="MICROSOFT_APP_ID")
    microsoft_app_password: SecretStr | None = Field(None, alias="MICROSOFT_APP_PASSWORD")
    microsoft_app_tenant_id: str | None = Field(None, alias="MICROSOFT_APP_TENANT_ID")
    # How the bot gets its own token for the Bot Connector: SingleTenant (client secret, or the
    # certificate below), UserAssignedMSI (managed identity; the app id is its client id), or
    # MultiTenant (deprecated by Microsoft for new bots). The PEM holds the private key and the
    # certificate (its thumbprint is computed).
    microsoft_app_type: Literal["SingleTenant", "MultiTenant", "UserAssignedMSI"] = Field(
        "SingleTenant", alias="MICROSOFT_APP_TYPE"
    )
    microsoft_app_certificate: Path | None = Field(None, alias="MICROSOFT_APP_CERTIFICATE_PATH")
    # Where incoming Bot Connector tokens' signing keys are published, and who issues them.
    teams_openid_metadata_url: str = Field(
        "https://login.botframework.com/v1/.well-known/openidconfiguration",
        alias="TEAMS_OPENID_METADATA_URL",
    )
    teams_token_issuer: str = Field("https://api.botframework.com", alias="TEAMS_TOKEN_ISSUER")
    # Pace of platform calls: Teams allows one streaming request a second per stream and about
    # one edit a second per conversation; a stream must end within two minutes.
    teams_stream_interval: float = Field(1.0, alias="TEAMS_STREAM_INTERVAL", gt=0)
    teams_edit_interval: float = Field(1.0, alias="TEAMS_EDIT_INTERVAL", gt=0)
    teams_stream_max_seconds: float = Field(110.0, alias="TEAMS_STREAM_MAX_SECONDS", gt=0)
    # Longer answers are split into several messages (Teams takes about 80 KB a message).
    teams_message_max_chars: int = Field(16000, alias="TEAMS_MESSAGE_MAX_CHARS", ge=200)
    # "Talk to a person" posts here: a channel conversation id the bot is installed in
    # (19:…@thread.tacv2); unset: no channel.
    teams_handoff_channel: str | None = Field(None, alias="SWITCHBOARD_HANDOFF_TEAMS_CHANNEL")


    def _missing(self) -> list[str]:
        missing: list[str] = []
        managed_identity = self.microsoft_app_type == "UserAssignedMSI"
        if self.microsoft_app_id and not managed_identity:
            if not (self.microsoft_app_password or self.microsoft_app_certificate):
                missing.append(
                    "MICROSOFT_APP_ID is set but MICROSOFT_APP_PASSWORD is missing: the bot cannot "
                    "get a token to answer in Teams (or set MICROSOFT_APP_CERTIFICATE_PATH, or "
                    "MICROSOFT_APP_TYPE=UserAssignedMSI; unset MICROSOFT_APP_ID for local mode)"
                )
            if self.microsoft_app_type == "SingleTenant" and not self.microsoft_app_tenant_id:
                missing.append(
                    "MICROSOFT_APP_ID is set but MICROSOFT_APP_TENANT_ID is missing: a single-"
                    "tenant bot gets its token from its own tenant"
                )
        if self.microsoft_app_password and not self.microsoft_app_id:
            missing.append("MICROSOFT_APP_PASSWORD is set but MICROSOFT_APP_ID is missing")
        if self.microsoft_app_tenant_id and not self.microsoft_app_id:
            missing.append("MICROSOFT_APP_TENANT_ID is set but MICROSOFT_APP_ID is missing")
        return [*missing, *super()._missing()]

    @property
    def teams_configured(self) -> bool:
        return self.microsoft_app_id is not None

    @classmethod
    def of(cls, settings: Settings) -> Self:
        """Teams' part of the one settings object; its defaults when it has none."""
        if isinstance(settings, cls):
            return settings
        return cast(Self, cls.model_construct())
