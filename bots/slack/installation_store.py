"""bolt's async installation and OAuth state stores, in Postgres (there is no psycopg one upstream).

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

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

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
    """Installations and bots of one Slack app (``client_id``) in ``slack_installations`` and
    ``slack_bots``."""

    def __init__(self, pool: AsyncConnectionPool, *, client_id: str) -> None:
        self._pool = pool
        self._client_id = client_id

    @property
    def logger(self) -> logging.Logger:
        return _logger

    async def async_save(self, installation: Installation) -> None:
        data = _jsonable(installation.to_dict_for_copying())
        enterprise_id, team_id = _org_key(
            installation.enterprise_id, installation.team_id, installation.is_enterprise_install
        )
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO slack_installations
                       (client_id, enterprise_id, team_id, user_id, is_enterprise_install,
                        installed_at, data)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (
                    self._client_id,
                    enterprise_id,
                    team_id,
                    installation.user_id,
                    bool(installation.is_enterprise_install),
                    _when(data),
                    Jsonb(data),
                ),
            )
        await self.async_save_bot(installation.to_bot())
        _logger.info(
            "slack_installed enterprise_id=%s team_id=%s org_wide=%s",
            enterprise_id,
            team_id,
            bool(installation.is_enterprise_install),
        )

    async def async_save_bot(self, bot: Bot) -> None:
        data = _jsonable(bot.to_dict_for_copying())
        enterprise_id, team_id = _org_key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO slack_bots
                       (client_id, enterprise_id, team_id, is_enterprise_install,
                        installed_at, data)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (
                    self._client_id,
                    enterprise_id,
                    team_id,
                    bool(bot.is_enterprise_install),
                    _when(data),
                    Jsonb(data),
                ),
            )

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        enterprise_id, team_id = _org_key(enterprise_id, team_id, is_enterprise_install)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT data FROM slack_bots
                   WHERE client_id = %s AND enterprise_id IS NOT DISTINCT FROM %s
                     AND team_id IS NOT DISTINCT FROM %s AND data->>'bot_token' IS NOT NULL
                   ORDER BY installed_at DESC, id DESC LIMIT 1""",
                (self._client_id, enterprise_id, team_id),
            )
            row = await cur.fetchone()
        return Bot(**row[0]) if row else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        enterprise_id, team_id = _org_key(enterprise_id, team_id, is_enterprise_install)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT data FROM slack_installations
                   WHERE client_id = %s AND enterprise_id IS NOT DISTINCT FROM %s
                     AND team_id IS NOT DISTINCT FROM %s
                     AND (%s::text IS NULL OR user_id = %s)
                   ORDER BY installed_at DESC, id DESC LIMIT 1""",
                (self._client_id, enterprise_id, team_id, user_id, user_id),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        installation = Installation(**row[0])
        if user_id is not None or installation.bot_token is None:
            # A user's own install may be older than the workspace's latest bot token.
            bot = await self.async_find_bot(
                enterprise_id=enterprise_id,
                team_id=team_id,
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
        async with self._pool.connection() as conn:
            await conn.execute(
                """DELETE FROM slack_bots WHERE client_id = %s
                   AND enterprise_id IS NOT DISTINCT FROM %s AND team_id IS NOT DISTINCT FROM %s""",
                (self._client_id, enterprise_id, team_id),
            )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """DELETE FROM slack_installations WHERE client_id = %s
                   AND enterprise_id IS NOT DISTINCT FROM %s AND team_id IS NOT DISTINCT FROM %s
                   AND (%s::text IS NULL OR user_id = %s)""",
                (self._client_id, enterprise_id, team_id, user_id, user_id),
            )


class PgOAuthStateStore(AsyncOAuthStateStore):
    """OAuth ``state`` values: issued per install, good for ``expiration_seconds``, used once."""

    def __init__(self, pool: AsyncConnectionPool, *, expiration_seconds: int = 600) -> None:
        self._pool = pool
        self._expiration = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return _logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM slack_oauth_states WHERE expires_at < now()")
            await conn.execute(
                """INSERT INTO slack_oauth_states (state, expires_at)
                   VALUES (%s, now() + make_interval(secs => %s))""",
                (state, self._expiration),
            )
        return state

    async def async_consume(self, state: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM slack_oauth_states WHERE state = %s RETURNING expires_at > now()",
                (state,),
            )
            row = await cur.fetchone()
        return bool(row and row[0])
