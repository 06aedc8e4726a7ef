"""bolt's async installation and OAuth state stores over ``store.slack`` (there is no psycopg
one upstream): a translation between slack_sdk's models and the stored rows.

Workspace installs are keyed by (enterprise, team); an Enterprise Grid org-wide install by the
enterprise alone (``team_id`` NULL), as bolt looks them up. Every save adds a row and lookups
take the newest, so a reinstall or a rotated token simply wins. Tokens live in ``data`` and are
never logged: only ids appear in log lines.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from store.slack import InstallKey, PgSlackStore

_logger = logging.getLogger(__name__)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """slack_sdk's dicts carry datetimes; store them as the epoch numbers its models accept."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            stamp = value.timestamp()
            value = stamp if key == "installed_at" else int(stamp)
        out[key] = value
    return out


def _when(data: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(data["installed_at"]), tz=UTC)


def _org_key(
    enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> tuple[str | None, str | None]:
    # An org-wide install answers for every workspace in the org: it is found by enterprise.
    return enterprise_id, None if is_enterprise_install or team_id is None else team_id


class PgInstallationStore(AsyncInstallationStore):
    """bolt's installation store for one Slack app (``client_id``), over ``store.slack``."""

    def __init__(self, store: PgSlackStore, *, client_id: str) -> None:
        self._store = store
        self._client_id = client_id

    @property
    def logger(self) -> logging.Logger:
        return _logger

    def _key(
        self, enterprise_id: str | None, team_id: str | None, org_wide: bool | None
    ) -> InstallKey:
        enterprise_id, team_id = _org_key(enterprise_id, team_id, org_wide)
        return InstallKey(self._client_id, enterprise_id, team_id)

    async def async_save(self, installation: Installation) -> None:
        data = _jsonable(installation.to_dict_for_copying())
        key = self._key(
            installation.enterprise_id, installation.team_id, installation.is_enterprise_install
        )
        await self._store.save_installation(
            key,
            user_id=installation.user_id,
            org_wide=bool(installation.is_enterprise_install),
            installed_at=_when(data),
            data=data,
        )
        await self.async_save_bot(installation.to_bot())
        _logger.info(
            "slack_installed enterprise_id=%s team_id=%s org_wide=%s",
            key.enterprise_id,
            key.team_id,
            bool(installation.is_enterprise_install),
        )

    async def async_save_bot(self, bot: Bot) -> None:
        data = _jsonable(bot.to_dict_for_copying())
        await self._store.save_bot(
            self._key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install),
            org_wide=bool(bot.is_enterprise_install),
            installed_at=_when(data),
            data=data,
        )

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        data = await self._store.find_bot(
            self._key(enterprise_id, team_id, is_enterprise_install)
        )
        return Bot(**data) if data else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = self._key(enterprise_id, team_id, is_enterprise_install)
        data = await self._store.find_installation(key, user_id=user_id)
        if data is None:
            return None
        installation = Installation(**data)
        if user_id is not None or installation.bot_token is None:
            # A user's own install may be older than the workspace's latest bot token.
            bot = await self.async_find_bot(
                enterprise_id=key.enterprise_id,
                team_id=key.team_id,
                is_enterprise_install=is_enterprise_install,
            )
            if bot is not None and bot.bot_token != installation.bot_token:
                installation.bot_id = bot.bot_id
                installation.bot_user_id = bot.bot_user_id
                installation.bot_token = bot.bot_token
                installation.bot_scopes = bot.bot_scopes
                installation.bot_refresh_token = bot.bot_refresh_token
                installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._store.delete_bot(InstallKey(self._client_id, enterprise_id, team_id))

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._store.delete_installation(
            InstallKey(self._client_id, enterprise_id, team_id), user_id=user_id
        )


class PgOAuthStateStore(AsyncOAuthStateStore):
    """OAuth ``state`` values: issued per install, good for ``expiration_seconds``, used once."""

    def __init__(self, store: PgSlackStore, *, expiration_seconds: int = 600) -> None:
        self._store = store
        self._expiration = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return _logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self._store.issue_state(state, expires_in_s=self._expiration)
        return state

    async def async_consume(self, state: str) -> bool:
        return await self._store.consume_state(state)
