"""One person across platforms: the accounts with the same confirmed email are one user.

The first account with the email is the person's user record; later ones point to it
(``users.same_as``) and everything they ask, and what was recorded under them before their
email was known, is recorded under it: history, export, forget-me and budgets span every
platform. An admin role on any of the accounts is the person's.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from core.conversations import UserRecord


async def one_person(conn: AsyncConnection, own: UserRecord, account: str | None) -> UserRecord:
    """The user record ``own`` (an account just upserted) answers to under ``account``."""
    if not account:
        return own
    cur = await conn.execute(
        """SELECT id, role FROM users
           WHERE lower(email) = %s AND same_as IS NULL AND id <> %s
           ORDER BY id LIMIT 1""",
        (account, own.id),
    )
    found = await cur.fetchone()
    if found is None:
        return own
    person_id, role = int(found[0]), str(found[1])
    cur = await conn.execute(
        "UPDATE users SET same_as = %s WHERE id = %s AND same_as IS DISTINCT FROM %s",
        (person_id, own.id, person_id),
    )
    if cur.rowcount:
        # Newly joined: what this account did before is the person's now.
        async with conn.transaction():
            for table in ("messages", "conversations"):
                await conn.execute(
                    f"UPDATE {table} SET user_id = %s WHERE user_id = %s",
                    (person_id, own.id),
                )
            await conn.execute(
                """UPDATE feedback f SET user_id = %s WHERE f.user_id = %s
                   AND NOT EXISTS (SELECT 1 FROM feedback g
                                   WHERE g.message_id = f.message_id AND g.user_id = %s)""",
                (person_id, own.id, person_id),
            )
    admin = "admin" if "admin" in (role, own.role) else role
    return UserRecord(id=person_id, role=admin)
