"""Threads the bot has answered in: there, follow-ups need no new mention."""

from __future__ import annotations

from collections import OrderedDict

from store.slack import PgSlackStore


class AnsweredThreads:
    """Knows whether a Slack thread is one of our conversations (one thread, one conversation).

    The conversations table is the record; recent answers are remembered here so the
    common case — a busy channel's replies in threads we are not in — costs one query at most.
    """

    def __init__(self, store: PgSlackStore, *, remember: int = 20_000) -> None:
        self._store = store
        self._known: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._capacity = remember

    def remember(self, team_id: str, channel: str, thread_ts: str) -> None:
        key = (team_id, channel, thread_ts)
        self._known[key] = None
        self._known.move_to_end(key)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)

    async def answered(self, team_id: str, channel: str, thread_ts: str) -> bool:
        if (team_id, channel, thread_ts) in self._known:
            return True
        found = await self._store.has_thread(team_id, channel, thread_ts)
        if found:
            self.remember(team_id, channel, thread_ts)
        return found
