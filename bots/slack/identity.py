"""Who a Slack person is: their confirmed email from ``users.info`` (``users:read.email``), and
their locale (``include_locale=true``; Slack's events carry none), so answers can be written
in their language.

Only the email Slack marks confirmed (``is_email_confirmed``) counts; display names never do.
``users.info`` is Tier 4 and shares the workspace's budget with time zones: a lookup on the
answer's path takes a slot only when one is free now and leaves ``keep`` for the rest; the
others wait their turn in the background (``core.identity.People``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from bots.slack.calls import SlackCalls
from core.events import Person
from core.identity import Identity, NotNow


class SlackIdentities:
    """A ``core.identity.IdentityResolver`` over ``users.info``."""

    def __init__(
        self,
        calls: SlackCalls,
        *,
        installs: AsyncInstallationStore | None,
        bot_token: str | None,
        keep: int = 20,
    ) -> None:
        self._calls = calls
        self._installs = installs
        self._bot_token = bot_token
        self._keep = keep

    async def resolve(
        self, person: Person, extras: Mapping[str, object], *, now: bool
    ) -> Identity | None:
        team, user = person.workspace_id, person.user_id
        if now:
            wait = await self._calls.reserve(team, "users.info", max_wait=0, keep=self._keep)
            if wait is None:
                raise NotNow()
        else:
            wait = await self._calls.reserve(team, "users.info")
            await asyncio.sleep(wait or 0)
        token = await self._token(team, extras.get("enterprise_id"))
        response = await self._calls.api(
            team, "users.info", token=token, reserved=True, form=True, user=user,
            include_locale="true",
        )
        return identity_of(response.get("user") or {})

    async def _token(self, team: str, enterprise_id: Any) -> str | None:
        if self._installs is None:
            return self._bot_token
        bot = await self._installs.async_find_bot(
            enterprise_id=enterprise_id or None, team_id=team
        )
        return bot.bot_token if bot is not None else None


def identity_of(user: dict[str, Any]) -> Identity | None:
    """A ``users.info`` user as an identity: None for bots and deleted users."""
    if user.get("is_bot") or user.get("deleted"):
        return None
    locale = user.get("locale")
    locale = str(locale) if isinstance(locale, str) and locale.strip() else None
    email = (user.get("profile") or {}).get("email")
    if not email or user.get("is_email_confirmed") is not True:
        return Identity(locale=locale)
    return Identity(email=str(email).strip().lower(), locale=locale)
