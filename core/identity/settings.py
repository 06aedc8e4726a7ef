"""Identity's part of the one settings object (composed in ``bots/settings.py``)."""

from __future__ import annotations

from typing import Self, cast

from pydantic import Field

from core.settings import Settings, SettingsPart


class IdentitySettings(SettingsPart):
    """Who is asking: how long what the platforms and Graph said is kept, and whether one
    email on two platforms is one person."""

    # How long a person's confirmed email is remembered before their platform is asked again.
    identity_ttl_s: float = Field(86400.0, alias="SWITCHBOARD_IDENTITY_TTL", ge=0)
    # How long a new person's first answer may wait for their platform's lookup; past it (or
    # with no room in the platform's budget) that answer uses public documents only.
    identity_inline_timeout_s: float = Field(
        2.0, alias="SWITCHBOARD_IDENTITY_INLINE_TIMEOUT", ge=0
    )
    # The same confirmed email on Slack and Teams is one person (history, limits, forget-me).
    merge_platforms: bool = Field(True, alias="SWITCHBOARD_MERGE_PLATFORMS")
    # Entra groups from Microsoft Graph, with the SharePoint connector's app registration.
    groups_from_graph: bool = Field(False, alias="SWITCHBOARD_GROUPS_FROM_GRAPH")
    groups_ttl_s: float = Field(3600.0, alias="SWITCHBOARD_GROUPS_TTL", gt=0)
    groups_timeout_s: float = Field(5.0, alias="SWITCHBOARD_GROUPS_TIMEOUT", gt=0)

    @classmethod
    def of(cls, settings: Settings) -> Self:
        """Identity's part of the one settings object; its defaults when it has none."""
        if isinstance(settings, cls):
            return settings
        return cast(Self, cls.model_construct())

    def _missing(self) -> list[str]:
        missing = []
        if self.groups_from_graph and not (
            getattr(self, "sharepoint_tenant_id", None)
            and getattr(self, "sharepoint_client_id", None)
            and getattr(self, "sharepoint_client_secret", None)
        ):
            missing.append(
                "SWITCHBOARD_GROUPS_FROM_GRAPH needs SHAREPOINT_TENANT_ID, SHAREPOINT_CLIENT_ID "
                "and SHAREPOINT_CLIENT_SECRET (the app registration that reads groups)"
            )
        return [*missing, *super()._missing()]
