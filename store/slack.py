"""Slack's own tables: installs and bot tokens (``slack_installations``, ``slack_bots``), OAuth
states, and whether a Slack thread is one of our conversations.

Rows go in and out as plain data (the installation's JSON as slack_sdk wrote it); the Slack
adapter turns them into slack_sdk's models. Tokens live in ``data`` and are never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True, slots=True)
class InstallKey:
    """Which install: one app (``client_id``), a workspace in an org, or an org-wide install
    (``team_id`` None)."""

    client_id: str
    enterprise_id: str | None
    team_id: str | None


class PgSlackStore:
    """Slack's tables in Postgres."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    # -- conversations -------------------------------------------------------------------------

    async def has_thread(self, team_id: str, channel: str, thread_ts: str) -> bool:
        """Whether the thread is one of our conversations (one thread, one conversation)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT 1 FROM conversations
                   WHERE platform = 'slack' AND workspace_id = %s AND channel_id = %s
                     AND thread_id = %s""",
                (team_id, channel, thread_ts),
            )
            return await cur.fetchone() is not None

    # -- installs ------------------------------------------------------------------------------

    async def save_installation(
        self,
        key: InstallKey,
        *,
        user_id: str | None,
        org_wide: bool,
        installed_at: datetime,
        data: Mapping[str, Any],
    ) -> None:
        """Every save adds a row; lookups take the newest, so a reinstall simply wins."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO slack_installations
                       (client_id, enterprise_id, team_id, user_id, is_enterprise_install,
                        installed_at, data)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (
                    key.client_id,
                    key.enterprise_id,
                    key.team_id,
                    user_id,
                    org_wide,
                    installed_at,
                    Jsonb(dict(data)),
                ),
            )

    async def save_bot(
        self, key: InstallKey, *, org_wide: bool, installed_at: datetime, data: Mapping[str, Any]
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO slack_bots
                       (client_id, enterprise_id, team_id, is_enterprise_install,
                        installed_at, data)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (
                    key.client_id,
                    key.enterprise_id,
                    key.team_id,
                    org_wide,
                    installed_at,
                    Jsonb(dict(data)),
                ),
            )

    async def find_bot(self, key: InstallKey) -> dict[str, Any] | None:
        """The newest bot of the install that has a token."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT data FROM slack_bots
                   WHERE client_id = %s AND enterprise_id IS NOT DISTINCT FROM %s
                     AND team_id IS NOT DISTINCT FROM %s AND data->>'bot_token' IS NOT NULL
                   ORDER BY installed_at DESC, id DESC LIMIT 1""",
                (key.client_id, key.enterprise_id, key.team_id),
            )
            row = await cur.fetchone()
        return dict(row[0]) if row else None

    async def find_installation(
        self, key: InstallKey, *, user_id: str | None
    ) -> dict[str, Any] | None:
        """The newest installation (by ``user_id`` when given)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT data FROM slack_installations
                   WHERE client_id = %s AND enterprise_id IS NOT DISTINCT FROM %s
                     AND team_id IS NOT DISTINCT FROM %s
                     AND (%s::text IS NULL OR user_id = %s)
                   ORDER BY installed_at DESC, id DESC LIMIT 1""",
                (key.client_id, key.enterprise_id, key.team_id, user_id, user_id),
            )
            row = await cur.fetchone()
        return dict(row[0]) if row else None

    async def delete_bot(self, key: InstallKey) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """DELETE FROM slack_bots WHERE client_id = %s
                   AND enterprise_id IS NOT DISTINCT FROM %s AND team_id IS NOT DISTINCT FROM %s""",
                (key.client_id, key.enterprise_id, key.team_id),
            )

    async def delete_installation(self, key: InstallKey, *, user_id: str | None) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """DELETE FROM slack_installations WHERE client_id = %s
                   AND enterprise_id IS NOT DISTINCT FROM %s AND team_id IS NOT DISTINCT FROM %s
                   AND (%s::text IS NULL OR user_id = %s)""",
                (key.client_id, key.enterprise_id, key.team_id, user_id, user_id),
            )

    # -- OAuth states --------------------------------------------------------------------------

    async def issue_state(self, state: str, *, expires_in_s: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM slack_oauth_states WHERE expires_at < now()")
            await conn.execute(
                """INSERT INTO slack_oauth_states (state, expires_at)
                   VALUES (%s, now() + make_interval(secs => %s))""",
                (state, expires_in_s),
            )

    async def consume_state(self, state: str) -> bool:
        """True once for a state issued and not expired."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM slack_oauth_states WHERE state = %s RETURNING expires_at > now()",
                (state,),
            )
            row = await cur.fetchone()
        return bool(row and row[0])
