"""Hand-off settings shared by every platform: the ticketing webhook. Each platform's help
channel is in its own settings (``SWITCHBOARD_HANDOFF_SLACK_CHANNEL``,
``SWITCHBOARD_HANDOFF_TEAMS_CHANNEL``)."""

from __future__ import annotations

from typing import Self, cast

from pydantic import Field, SecretStr

from core.settings import Settings, SettingsPart


class HandoffSettings(SettingsPart):
    """Where "Talk to a person" sends a ticket besides the help channel, and how hard it tries."""

    handoff_webhook: str | None = Field(None, alias="SWITCHBOARD_HANDOFF_WEBHOOK")
    handoff_webhook_secret: SecretStr | None = Field(
        None, alias="SWITCHBOARD_HANDOFF_WEBHOOK_SECRET"
    )
    handoff_webhook_timeout_s: float = Field(
        10.0, alias="SWITCHBOARD_HANDOFF_WEBHOOK_TIMEOUT", gt=0
    )
    handoff_webhook_attempts: int = Field(5, alias="SWITCHBOARD_HANDOFF_WEBHOOK_ATTEMPTS", ge=1)

    def _missing(self) -> list[str]:
        missing: list[str] = []
        if self.handoff_webhook and not self.handoff_webhook_secret:
            missing.append(
                "SWITCHBOARD_HANDOFF_WEBHOOK is set but SWITCHBOARD_HANDOFF_WEBHOOK_SECRET is "
                "missing: the ticketing system could not tell our tickets from anyone's"
            )
        if self.handoff_webhook and not self.handoff_webhook.startswith(("https://", "http://")):
            missing.append("SWITCHBOARD_HANDOFF_WEBHOOK must be an http(s) URL")
        return [*missing, *super()._missing()]

    @classmethod
    def of(cls, settings: Settings) -> Self:
        """The hand-off part of the one settings object; its defaults when it has none."""
        if isinstance(settings, cls):
            return settings
        return cast(Self, cls.model_construct())
