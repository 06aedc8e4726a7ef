"""Slack's part in a question's life (``core.lifecycle``): where an answer goes, and how an
event the inbox kept is rebuilt for another attempt."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from bots.slack import escaping, events
from bots.slack.calls import SlackCalls
from bots.slack.events import Question as SlackQuestion
from bots.slack.metrics import Delivery, SlackMetrics
from bots.slack.stream import SlackReplyStream
from bots.slack.target import StreamPacing
from bots.slack.threads import AnsweredThreads
from bots.tasks import BackgroundTasks
from core.answers import Answer
from core.events import ConversationKind
from core.lifecycle import AnswerAgain, Question, Record, Reply
from core.worker import ClaimedEvent

TITLE_CHARS = 60


@dataclass(slots=True)
class SlackAnswering:
    """What a Slack answer needs, whichever attempt it is; Slack's door in the core's
    lifecycle (``core.lifecycle.PlatformDoor``)."""

    calls: SlackCalls
    pacing: StreamPacing
    threads: AnsweredThreads
    tasks: BackgroundTasks
    metrics: SlackMetrics
    installs: AsyncInstallationStore | None
    # The one workspace's token when there is no install store.
    bot_token: str | None = None
    # Answers carry "Talk to a person" (a help channel or the webhook is configured).
    handoff: bool = False

    def question(self, question: SlackQuestion) -> Question:
        return Question(event=question.event, place=SlackPlace(self, question))

    # -- core.lifecycle.PlatformDoor -----------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> Any:
        return self.tasks.spawn(work, name=name)

    async def again(self, claim: ClaimedEvent, answer: AnswerAgain) -> bool:
        question = await self._question_of(claim)
        if question is None:
            return False
        await answer(self.question(question))
        return True

    async def tell(self, claim: ClaimedEvent, text: str) -> None:
        question = await self._question_of(claim)
        if question is None:
            return
        stream = SlackReplyStream(
            self.calls, question.target, self.pacing, resume=_shown(claim)
        )
        await stream.fail(text)

    async def _question_of(self, claim: ClaimedEvent) -> SlackQuestion | None:
        payload = claim.payload
        event = payload.get("event")
        team_id = str(payload.get("team_id") or "")
        if not isinstance(event, Mapping) or not team_id:
            return None
        token = await self._token(
            team_id, payload.get("enterprise_id"), bool(payload.get("is_enterprise_install"))
        )
        if token is None:
            return None
        return events.to_question(
            {"event_id": claim.event_key, "enterprise_id": payload.get("enterprise_id")},
            event,
            team_id=team_id,
            bot_user_id=payload.get("bot_user_id"),
            token=token,
            kind=ConversationKind(str(payload.get("kind") or ConversationKind.DM)),
        )

    async def _token(self, team_id: str, enterprise_id: Any, org_install: bool) -> str | None:
        """The workspace's bot token, as bolt's authorization would find it."""
        if self.installs is None:
            return self.bot_token
        bot = await self.installs.async_find_bot(
            enterprise_id=enterprise_id or None,
            team_id=None if org_install else team_id,
            is_enterprise_install=org_install,
        )
        return bot.bot_token if bot is not None else None


class HandoffOffering(SlackReplyStream):
    """A reply whose answer shows "Talk to a person" beside its feedback buttons."""

    async def finish(self, answer: Answer) -> None:
        answer.handoff = True
        await super().finish(answer)


class SlackPlace:
    """One Slack question's thread: its reply stream, and what follows the answer."""

    def __init__(self, answering: SlackAnswering, question: SlackQuestion) -> None:
        self._answering = answering
        self._question = question

    @property
    def conversation(self) -> str:
        t = self._question.target
        return f"slack:{t.team_id}:{t.channel}:{t.thread_ts}"

    async def open(self, claim: ClaimedEvent | None, record: Record | None) -> Reply:
        a = self._answering
        target = self._question.target
        if self._question.event.thread.kind is ConversationKind.ASSISTANT and not (
            await a.threads.answered(target.team_id, target.channel, target.thread_ts)
        ):
            a.tasks.spawn(self._title(), name="slack:title")
        stream = HandoffOffering if a.handoff else SlackReplyStream
        return stream(
            a.calls,
            target,
            a.pacing,
            resume=_shown(claim) if claim is not None else (),
            on_progress=record,
        )

    async def answered(self, answer: Answer, reply: Reply) -> None:
        t = self._question.target
        self._answering.threads.remember(t.team_id, t.channel, t.thread_ts)

    def ended(self, reply: Reply) -> None:
        assert isinstance(reply, SlackReplyStream)
        self._answering.metrics.delivered(
            Delivery(
                first_text_in=reply.first_text_in,
                first_text_out=reply.first_text_out,
                messages=len(reply.message_ts),
                streamed=reply.streamed,
                delivered=reply.delivered,
            )
        )

    async def _title(self) -> None:
        """Name a new agent-pane thread after its first question."""
        calls = self._answering.calls
        target = self._question.target
        text = " ".join(self._question.event.text.split())
        if not text:
            return
        title = text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"
        await calls.if_room(
            target.team_id,
            "assistant.threads.setTitle",
            token=target.token,
            channel_id=target.channel,
            thread_ts=target.thread_ts,
            title=escaping.markdown(title),  # plain text, but never a ping
        )


def _shown(claim: ClaimedEvent) -> list[str]:
    resume = claim.progress.get("ts")
    return [str(ts) for ts in resume] if isinstance(resume, list) else []


def inbox_payload(question: SlackQuestion, body: Mapping[str, Any]) -> dict[str, Any]:
    """What the inbox keeps to answer the event again after a crash (never a token)."""
    authorizations = body.get("authorizations") or [{}]
    first = authorizations[0] if isinstance(authorizations[0], Mapping) else {}
    return {
        "team_id": question.target.team_id,
        "enterprise_id": body.get("enterprise_id"),
        "is_enterprise_install": bool(first.get("is_enterprise_install")),
        "bot_user_id": first.get("user_id"),
        "kind": question.event.thread.kind.value,
        "event": body.get("event"),
    }
