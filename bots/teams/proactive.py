"""Posting without being asked: jobs reach Teams chats through stored conversation references.

``TeamsNotifier.post`` sends one activity to one stored conversation through botbuilder's
``continue_conversation``; ``post_prompts`` sends this week's prompts to every personal chat
the bot is installed in, a page of chats at a time and a few at once, so a large tenant is not
flooded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from bots.teams.cards import WEEKLY, welcome_activity
from bots.teams.delivery import Outbox
from bots.teams.references import StoredConversation, TeamsConversations
from core.errors import PlatformError

log = structlog.get_logger(__name__)


class TeamsNotifier:
    """Sends activities to conversations the bot was in before."""

    def __init__(
        self,
        adapter: CloudAdapter,
        conversations: TeamsConversations,
        *,
        app_id: str | None,
        concurrency: int = 4,
    ) -> None:
        self._adapter = adapter
        self._conversations = conversations
        self._app_id = app_id or ""
        self._concurrency = concurrency

    async def post(self, conversation_id: str, activity: Activity) -> str | None:
        """Send ``activity`` to a stored conversation; the new message's id, or None when the
        bot is not (or no longer) in that conversation."""
        stored = await self._conversations.get(conversation_id)
        if stored is None:
            return None
        return await self._send(stored, activity)

    async def _send(self, stored: StoredConversation, activity: Activity) -> str | None:
        sent: list[str] = []

        async def callback(context: TurnContext) -> None:
            # botbuilder gives the continuation a made-up activity id and would reply to it;
            # a proactive message is a new message in the conversation.
            context.activity.id = None
            sent.append(await Outbox(context).send(activity))

        await self._adapter.continue_conversation(stored.reference, callback, self._app_id)
        return sent[0] if sent else None

    async def post_prompts(self, prompts: Sequence[str]) -> int:
        """This week's prompts to every personal chat; returns how many chats got them."""
        delivered = 0
        after = ""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(stored: StoredConversation) -> bool:
            async with gate:
                try:
                    await self._send(stored, welcome_activity(prompts, personal=True, intro=WEEKLY))
                except PlatformError as exc:
                    log.warning(
                        "teams_prompts_not_delivered",
                        conversation_id=stored.conversation_id,
                        error=str(exc),
                    )
                    return False
                return True

        while page := await self._conversations.personal_chats(after=after):
            results = await asyncio.gather(*(one(stored) for stored in page))
            delivered += sum(results)
            after = page[-1].conversation_id
        return delivered
