"""``forget-me`` and ``export``: a person's own data, deleted or handed over."""

from __future__ import annotations

import json

from core.commands.context import CommandContext
from core.commands.help import CommandSpec
from core.commands.reply import CommandAction, CommandReply
from core.commands.stores import PersonalData
from core.llm.cache import AnswerCache

CONFIRM = "confirm"


class CacheForgetting:
    """``CachedAnswers`` over the answer cache (``core.llm.cache.AnswerCache``).

    Entries are keyed by a hash of (domain, question) and shared by everyone who asks the
    same thing, so one person's entries cannot be told apart: forgetting someone drops the
    whole cache. ``forget-me`` is rare; a few cache misses after it are the price. Changed
    documents drop it too, as the reingest job does.
    """

    def __init__(self, cache: AnswerCache) -> None:
        self._cache = cache

    async def forget_user(self, user_id: int) -> None:
        await self._cache.invalidate()

    async def documents_changed(self) -> None:
        await self._cache.invalidate()


def _counts(data: PersonalData) -> str:
    return (
        f"{data.conversations} conversation{'s' * (data.conversations != 1)}, "
        f"{data.messages} message{'s' * (data.messages != 1)} and "
        f"{data.feedback} feedback rating{'s' * (data.feedback != 1)}"
    )


async def run_forget_me(ctx: CommandContext) -> CommandReply:
    privacy = ctx.services.privacy
    if [a.lower() for a in ctx.request.args] != [CONFIRM]:
        # Deleting is for good: show what would go, and ask for a deliberate second step.
        held = await privacy.inventory(ctx.user.id)
        ctx.audit_details.update(step="asked")
        return CommandReply(
            title="Delete everything I keep about you?",
            sections=[
                (
                    f"This deletes your {_counts(held)}, the answers I gave you, and your name "
                    "and email as I stored them. It cannot be undone. Replies already posted in "
                    "Slack or Teams stay where they are."
                ),
                "Tip: `export` first if you want a copy.",
            ],
            actions=[
                CommandAction("Yes, delete my data", f"forget-me {CONFIRM}", style="danger"),
            ],
        )
    deleted = await privacy.forget(ctx.user.id)
    cached = "none kept"
    if ctx.services.answer_cache is not None:
        await ctx.services.answer_cache.forget_user(ctx.user.id)
        cached = "dropped"
    # The audit line says that it happened and how much, never what was deleted.
    ctx.audit_details.update(
        step="deleted",
        conversations=deleted.conversations,
        messages=deleted.messages,
        feedback=deleted.feedback,
        cached_answers=cached,
    )
    ctx.audit_target = ctx.actor
    return CommandReply(
        title="Done — I've forgotten you",
        sections=[f"Deleted {_counts(deleted)}."],
    )


async def run_export(ctx: CommandContext) -> CommandReply:
    data = await ctx.services.privacy.export(ctx.user.id)
    data["exported_at"] = ctx.now.isoformat()
    content = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
    conversations = data.get("conversations", [])
    ctx.audit_details.update(
        conversations=len(conversations),
        messages=sum(len(c.get("messages", [])) for c in conversations),
        feedback=len(data.get("feedback", [])),
        bytes=len(content),
    )
    ctx.audit_target = ctx.actor
    return CommandReply(
        title="Your data",
        sections=[
            (
                "Here is everything I keep about you, as JSON: your profile, your "
                "conversations with the answers I gave, and your feedback."
            )
        ],
        file_name=f"switchboard-export-{ctx.now.date().isoformat()}.json",
        file_content=content,
        file_type="application/json",
    )


COMMANDS = (
    CommandSpec(
        name="forget-me",
        usage="forget-me",
        summary="delete your conversations, feedback and everything else I keep about you",
        run=run_forget_me,
        audited=True,
        aliases=("forgetme", "forget_me"),
        args="(confirm)?",
    ),
    CommandSpec(
        name="export",
        usage="export",
        summary="a JSON file with all your data",
        run=run_export,
        audited=True,
    ),
)
