"""The Teams turn handler: a thin translator between Teams activities and the core.

Each turn is acknowledged quickly: the question is recorded in the inbox (a duplicate delivery
stops there), and the answer runs after the HTTP response, streamed into the chat. Commands
typed in a personal chat (the manifest's command list) go to the core's command handler; the
feedback buttons' invoke is stored and answered 200 with an empty body; adding the bot to a
chat brings a welcome with this week's prompts. Every turn refreshes the conversation's
stored reference, so jobs can post later without being asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import structlog
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ChannelAccount
from structlog.contextvars import bind_contextvars

from bots.runtime import Runtime
from bots.teams.activities import (
    PERSONAL,
    bot_was_added,
    bot_was_removed,
    chat_event,
    client_timezone,
    conversation_type,
    event_key,
    other_mentions,
    person_of,
    question_text,
    thread_of,
)
from bots.teams.cards import command_reply_activity, plain_message, welcome_activity
from bots.teams.delivery import Outbox
from bots.teams.edits import TeamsEditingReply
from bots.teams.feedback import read_feedback
from bots.teams.files import (
    INVOKE,
    ConsentAnswer,
    consent_attachment,
    file_info_activity,
    read_consent,
    upload,
)
from bots.teams.references import TeamsConversations
from bots.teams.stream import TeamsStreamingReply
from core.commands import CommandRequest, is_command
from core.errors import InvalidQuestion, PlatformError, RateLimited
from core.events import ChatEvent
from core.worker import ClaimedEvent
from store.feedback import FeedbackStore
from store.prompts import PromptStore

log = structlog.get_logger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]
SORRY = "Sorry — something went wrong while I was answering. Please try again in a moment."
# Shown when an attempt failed and the event goes back to the inbox to be answered again.
STILL_WORKING = (
    "This is taking longer than usual — I'm still on it, and the answer will follow here."
)


@dataclass(frozen=True, slots=True)
class StreamPace:
    """How the replies pace Teams calls (from the settings)."""

    stream_interval_s: float
    edit_interval_s: float
    stream_max_s: float
    max_chars: int


class ConversationLocks:
    """One answer at a time per conversation: Teams streams one reply per chat, and history
    stays in order. Locks are dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await work()
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class TeamsBot(ActivityHandler):
    """Answers Teams messages with the shared assistant."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        conversations: TeamsConversations,
        prompts: PromptStore,
        pace: StreamPace,
        spawn: Spawn,
    ) -> None:
        self._runtime = runtime
        self._conversations = conversations
        self._prompts = prompts
        self._pace = pace
        self._spawn = spawn
        self._locks = ConversationLocks()

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.type == "message":
            if not _is_personal_command(activity):
                # Off the ack path: the reference changes rarely and nothing below needs it.
                # Not for a command: forget-me deletes the reference, which its own message
                # must not write back.
                self._spawn(self._conversations.remember(activity))
        elif activity.type in {"conversationUpdate", "installationUpdate"}:
            await self._conversations.remember(activity, installed=not bot_was_removed(activity))
        await super().on_turn(turn_context)

    # -- messages ---------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        text = question_text(activity)
        if not text:
            return  # a bare mention, or a card button that sends no text: nothing to answer
        key = event_key(activity)
        bind_contextvars(event_key=key)
        # The whole activity, so the inbox worker can answer it again after a crash.
        claim = await self._runtime.inbox.accept(key, "teams", {"activity": activity.serialize()})
        if claim is None:
            log.info("teams_duplicate_activity", event_key=key)
            return
        self._spawn(self.work_on(turn_context, activity, claim))

    async def work_on(
        self,
        turn_context: TurnContext,
        activity: Activity,
        claim: ClaimedEvent,
        *,
        again: bool = False,
    ) -> None:
        """Answer (or run the command in) ``activity``; ``again`` when an earlier attempt died
        and this one runs in a conversation continued by the inbox worker."""
        text = question_text(activity)
        try:
            if conversation_type(activity) == PERSONAL and is_command(text):
                await self._command(turn_context, activity, claim, text)
                return
            event = chat_event(activity, attempt=claim.attempt)
            await self._answer(turn_context, event, claim, again=again)
        except Exception:
            log.exception("teams_answer_broke", event_key=claim.event_key)
            self._runtime.inbox.abandon(claim)  # answered again when its lease runs out
            raise

    async def _answer(
        self, turn_context: TurnContext, event: ChatEvent, claim: ClaimedEvent, *, again: bool
    ) -> None:
        key = event.event_key or ""
        conversation_id = turn_context.activity.conversation.id
        inbox = self._runtime.inbox

        async def work() -> None:
            outbox = Outbox(turn_context)
            stream = self._reply_stream(outbox, turn_context, claim, again=again)
            try:
                answer = await self._runtime.assistant.handle(event, stream)
            except (InvalidQuestion, RateLimited):
                await inbox.done(claim)  # refused; the user was told why
                return
            except Exception as exc:
                log.exception("teams_answer_failed", event_key=key)
                error = f"{type(exc).__name__}: {exc}"
                retry = claim.attempt < inbox.max_attempts and worth_retrying(exc)
                if not stream.closed:
                    # Told plainly: another attempt follows, or it failed.
                    try:
                        await stream.fail(STILL_WORKING if retry else SORRY)
                    except PlatformError as told:
                        log.warning("teams_failure_not_shown", error=str(told))
                if retry:
                    # Kept with the event, so the next attempt edits this message into the
                    # answer rather than post a second one (written now: a progress write
                    # still on its way would lose to the retry).
                    shown = stream.message_id if isinstance(stream, TeamsEditingReply) else None
                    await inbox.retry(
                        claim, error, progress={"activity_id": shown} if shown else None
                    )
                else:
                    await inbox.failed(claim, error)
                return
            if answer.message_id is not None:
                await self._conversations.record_messages(
                    conversation_id, stream.activity_ids, answer.message_id
                )
            await inbox.done(claim)
            log.info(
                "teams_answered",
                event_key=key,
                message_id=answer.message_id,
                connector_calls=outbox.calls,
                outcome=getattr(stream, "outcome", "edited"),
            )

        await self._locks.run(conversation_id, work)

    def _reply_stream(
        self, outbox: Outbox, turn_context: TurnContext, claim: ClaimedEvent, *, again: bool
    ) -> TeamsStreamingReply | TeamsEditingReply:
        if conversation_type(turn_context.activity) == PERSONAL and not again:
            return TeamsStreamingReply(
                outbox,
                interval_s=self._pace.stream_interval_s,
                max_seconds=self._pace.stream_max_s,
                max_chars=self._pace.max_chars,
            )
        # Group chats and channels; and every answer given again, which edits the message an
        # earlier attempt posted (a stream cannot be continued from another process).
        resume = claim.progress.get("activity_id")
        return TeamsEditingReply(
            outbox,
            interval_s=self._pace.edit_interval_s,
            max_chars=self._pace.max_chars,
            resume_id=resume if isinstance(resume, str) else None,
            on_posted=lambda activity_id: self._spawn(
                self._runtime.inbox.progress(claim, {"activity_id": activity_id})
            ),
        )

    async def _command(
        self, turn_context: TurnContext, activity: Activity, claim: ClaimedEvent, text: str
    ) -> None:
        request = _command_request(activity, text)
        try:
            reply = await self._runtime.commands.handle(request)
            offer = None
            if reply.file_name and reply.file_content is not None:
                # Only a personal chat (where commands run) can take a file: by consent.
                offer = consent_attachment(
                    reply.file_name,
                    len(reply.file_content),
                    command=request.name,
                    user=request.person.user_id,
                )
            await Outbox(turn_context).send(command_reply_activity(reply, file_offer=offer))
        except Exception as exc:
            log.exception("teams_command_failed", command=request.name)
            await self._runtime.inbox.failed(claim, f"{type(exc).__name__}: {exc}")
            return
        await self._runtime.inbox.done(claim)

    async def tell_failed(self, turn_context: TurnContext, claim: ClaimedEvent) -> None:
        """The event was given up: say so, in the earlier attempt's message when there is one."""
        outbox = Outbox(turn_context)
        resume = claim.progress.get("activity_id")
        if isinstance(resume, str):
            try:
                await outbox.update(resume, plain_message(SORRY))
                return
            except PlatformError as exc:
                log.info("teams_resume_message_lost", activity_id=resume, error=str(exc))
        await outbox.send(plain_message(SORRY))

    # -- the bot joins a conversation -------------------------------------------------------

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        activity = turn_context.activity
        if not bot_was_added(activity):
            return
        claim = await self._runtime.inbox.accept(event_key(activity), "teams", {"welcome": True})
        if claim is None:
            return
        prompts = await self._prompts.current()
        personal = conversation_type(activity) == PERSONAL
        await Outbox(turn_context).send(welcome_activity(prompts, personal=personal))
        await self._runtime.inbox.done(claim)

    # -- feedback buttons -------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        activity = turn_context.activity
        if activity.name == INVOKE:
            answer = read_consent(activity.value)
            if answer is not None:
                self._spawn(self._deliver_file(turn_context, activity, answer))
            return InvokeResponse(status=int(HTTPStatus.OK))
        if activity.name != "message/submitAction":
            return await super().on_invoke_activity(turn_context)
        rating = read_feedback(activity.value)
        if rating is not None and activity.reply_to_id:
            message_id = await self._conversations.message_for(
                activity.conversation.id, activity.reply_to_id
            )
            if message_id is None:
                log.warning("teams_feedback_unknown_message", activity_id=activity.reply_to_id)
            else:
                user = await self._runtime.conversations.upsert_user(person_of(activity))
                # Teams sends the whole verdict at once: the comment ("" when none) replaces any
                # earlier one.
                await FeedbackStore(self._runtime.db.pool).record(
                    message_id=message_id,
                    user_id=user.id,
                    rating=1 if rating.rating > 0 else -1,
                    comment=rating.comment or "",
                )
                log.info("teams_feedback", message_id=message_id, rating=rating.rating)
        # Teams wants 200 and no body; anything else shows the user an error.
        return InvokeResponse(status=int(HTTPStatus.OK))

    # -- files (file consent) -----------------------------------------------------------------

    async def _deliver_file(
        self, turn_context: TurnContext, activity: Activity, answer: ConsentAnswer
    ) -> None:
        """The person answered a FileConsentCard: upload the file and show it, or let it be."""
        outbox = Outbox(turn_context)
        person = person_of(activity)
        if answer.user != person.user_id:
            # A card forwarded to, or pressed by, someone else: their own data is theirs to ask.
            log.warning("teams_file_consent_other_user")
            return
        if not answer.accepted:
            await outbox.send(plain_message("Okay, I won't save the file."))
            return
        request = CommandRequest.parse(person, thread_of(activity), answer.command)
        reply = await self._runtime.commands.handle(request)
        if reply.file_content is None:
            await outbox.send(command_reply_activity(reply))
            return
        try:
            await upload(answer.upload_url, reply.file_content)
        except PlatformError as exc:
            log.warning("teams_file_upload_failed", error=str(exc), status=exc.status)
            await outbox.send(
                plain_message("I couldn't save the file to your OneDrive. Try `export` again.")
            )
            return
        await outbox.send(file_info_activity(answer))


def _is_personal_command(activity: Activity) -> bool:
    return conversation_type(activity) == PERSONAL and is_command(question_text(activity))


def worth_retrying(exc: BaseException) -> bool:
    """Whether another attempt may succeed: not when Teams refused the bot or the message
    itself (401, 403, 404, 413…), which a retry would only repeat."""
    if isinstance(exc, PlatformError) and exc.status is not None:
        return exc.status >= 500 or exc.status in {408, 412, 429}
    return True


def _command_request(activity: Any, text: str) -> CommandRequest:
    return CommandRequest.parse(
        person_of(activity),
        thread_of(activity),
        text,
        mentions=other_mentions(activity),
        timezone=client_timezone(activity),
    )
