"""The Teams turn handler: a thin translator between Teams activities and the core.

Each turn is acknowledged quickly: the question is recorded in the inbox (a duplicate delivery
stops there), and the answer runs after the HTTP response, streamed into the chat. Commands
typed in a personal chat (the manifest's command list) go to the core's command handler; the
feedback buttons' invoke is stored and answered 200 with an empty body; adding the bot to a
chat brings a welcome with this week's prompts. Every turn refreshes the conversation's
stored reference, so jobs can post later without being asked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any

import structlog
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ChannelAccount

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
    user_key,
)
from bots.teams.answers import StreamPace, TeamsPlace
from bots.teams.cards import (
    command_reply_activity,
    plain_message,
    read_form,
    read_handoff,
    welcome_activity,
)
from bots.teams.delivery import Outbox
from bots.teams.feedback import read_feedback
from bots.teams.files import (
    INVOKE,
    ConsentAnswer,
    consent_attachment,
    file_info_activity,
    read_consent,
    upload,
)
from bots.teams.forms import closes_card, saved_card
from bots.teams.handoff import TeamsHandoff, conversation_link
from bots.teams.identity import mentioned_people
from bots.teams.references import TeamsConversations
from core.commands import CommandHandler, CommandReply, CommandRequest, is_command
from core.errors import PlatformError
from core.lifecycle import Question, QuestionLifecycle
from core.worker import ClaimedEvent
from store.conversations import PgConversationStore
from store.feedback import FeedbackStore
from store.prompts import PromptStore

log = structlog.get_logger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], object]
PLATFORM = "teams"


@dataclass(frozen=True, slots=True)
class TeamsServices:
    """The core's services the turn handler uses."""

    users: PgConversationStore
    feedback: FeedbackStore
    prompts: PromptStore
    commands: CommandHandler


class TeamsBot(ActivityHandler):
    """Answers Teams messages with the shared assistant, through the core's lifecycle."""

    def __init__(
        self,
        lifecycle: QuestionLifecycle,
        *,
        services: TeamsServices,
        conversations: TeamsConversations,
        pace: StreamPace,
        spawn: Spawn,
        handoff: TeamsHandoff | None = None,
    ) -> None:
        self._handoff = handoff
        self._lifecycle = lifecycle
        self._services = services
        self._conversations = conversations
        self._pace = pace
        self._spawn = spawn

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.type == "message":
            if not is_personal_command(activity):
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
        # A card's Action.Submit arrives as a message with the card's data in ``value``. Each
        # press is recorded in the inbox like a question: a delivery Teams sends again (no ack
        # in time) is not acted on twice. The payload keeps no activity, so a press whose work
        # died is not done again by the inbox worker: the person presses again.
        if (message_id := read_handoff(activity.value)) is not None:
            claim = await self._lifecycle.accept(
                event_key(activity), PLATFORM, {"handoff": message_id}
            )
            if claim is not None:
                self._spawn(
                    self._lifecycle.once(
                        claim, lambda: self._hand_off(turn_context, activity, message_id)
                    )
                )
            return
        if (command := read_form(activity.value)) is not None:
            claim = await self._lifecycle.accept(
                event_key(activity),
                PLATFORM,
                {"form": command.split(" ", 2)[:2]},
                message_key=_form_key(activity, command),
            )
            if claim is not None:
                self._spawn(
                    self._lifecycle.once(
                        claim, lambda: self._submitted(turn_context, activity, command)
                    )
                )
            return
        text = question_text(activity)
        if not text:
            return  # a bare mention, or a card button that sends no text: nothing to answer
        # The whole activity, so the inbox worker can answer it again after a crash.
        payload = {"activity": activity.serialize()}
        if not is_personal_command(activity):
            await self._lifecycle.take(self.question(turn_context, activity), payload)
            return
        claim = await self._lifecycle.accept(event_key(activity), PLATFORM, payload)
        if claim is not None:
            self._spawn(self.run_command(turn_context, activity, claim))

    def question(
        self, turn_context: TurnContext, activity: Activity, *, again: bool = False
    ) -> Question:
        """``activity`` as the core's question, answered in its chat; ``again`` when an
        earlier attempt died and this one runs in a conversation continued by the inbox
        worker."""
        place = TeamsPlace(
            turn_context,
            self._conversations,
            self._pace,
            again,
            handoff=self._handoff is not None and self._handoff.offered,
        )
        return Question(event=chat_event(activity), place=place)

    async def run_command(
        self, turn_context: TurnContext, activity: Activity, claim: ClaimedEvent
    ) -> None:
        """A command typed in a personal chat: run once, done or failed."""
        text = question_text(activity)

        async def run() -> None:
            await self._command(turn_context, activity, text)

        await self._lifecycle.once(claim, run)

    async def _command(
        self, turn_context: TurnContext, activity: Activity, text: str
    ) -> CommandReply:
        request = _command_request(activity, text)
        if request.mentions:
            request = replace(
                request, mentions=await mentioned_people(turn_context, request.mentions)
            )
        reply = await self._services.commands.handle(request)
        offer = None
        if reply.file_name and reply.file_content is not None:
            # Only a personal chat (where commands run) can take a file: by consent.
            offer = consent_attachment(
                reply.file_name,
                len(reply.file_content),
                command=" ".join((request.name, *request.args)),
                user=request.person.user_id,
                file_type=reply.file_type,
            )
        await Outbox(turn_context).send(command_reply_activity(reply, file_offer=offer))
        return reply

    async def _submitted(self, turn_context: TurnContext, activity: Activity, command: str) -> None:
        """A form on a card ("Write a verified answer") was sent: its command, run for whoever
        sent it, as if they had typed it — so only in a personal chat, where commands run. A
        new verified answer, once saved, turns its card read-only; one that failed leaves the
        form as it was, filled in, to send again."""
        if conversation_type(activity) != PERSONAL:
            await Outbox(turn_context).send(
                plain_message("Commands run in your personal chat with me: open it and try there.")
            )
            return
        reply = await self._command(turn_context, activity, command)
        card = activity.reply_to_id
        if not (reply.ok and card and closes_card(command)):
            return
        try:
            await Outbox(turn_context).update(card, saved_card(reply, command))
        except PlatformError as exc:
            # Saved all the same; a second press of the old card is then a duplicate.
            log.info("teams_form_card_not_updated", activity_id=card, error=str(exc))

    async def _hand_off(
        self, turn_context: TurnContext, activity: Activity, message_id: int
    ) -> None:
        """ "Talk to a person" was pressed: the desk decides, the person is told in the chat."""
        handoff = self._handoff
        if handoff is None:
            await Outbox(turn_context).send(
                plain_message("Handing questions to a person is not set up here.")
            )
            return
        person = person_of(activity)
        user = await self._services.users.upsert_user(person)

        async def tell(text: str) -> None:
            await Outbox(turn_context).send(plain_message(text))

        await handoff.desk.hand_off(
            person,
            user.id,
            message_id,
            channel=handoff.channel,
            pressed_in=thread_of(activity).channel_id,
            link=conversation_link(activity),
            tell=tell,
        )

    async def tell(self, turn_context: TurnContext, claim: ClaimedEvent, text: str) -> None:
        """The event was given up: say ``text``, in the earlier attempt's message when there
        is one."""
        outbox = Outbox(turn_context)
        resume = claim.progress.get("activity_id")
        if isinstance(resume, str):
            try:
                await outbox.update(resume, plain_message(text))
                return
            except PlatformError as exc:
                log.info("teams_resume_message_lost", activity_id=resume, error=str(exc))
        await outbox.send(plain_message(text))

    # -- the bot joins a conversation -------------------------------------------------------

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        activity = turn_context.activity
        if not bot_was_added(activity):
            return
        claim = await self._lifecycle.accept(event_key(activity), PLATFORM, {"welcome": True})
        if claim is None:
            return

        async def welcome() -> None:
            prompts = await self._services.prompts.current()
            personal = conversation_type(activity) == PERSONAL
            await Outbox(turn_context).send(welcome_activity(prompts, personal=personal))

        await self._lifecycle.once(claim, welcome)

    # -- feedback buttons -------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        activity = turn_context.activity
        if activity.name == INVOKE:
            answer = read_consent(activity.value)
            if answer is not None:
                # Recorded like a card press: a redelivered or second accept of the same card
                # uploads nothing more, and is still answered 200.
                claim = await self._lifecycle.accept(
                    event_key(activity),
                    PLATFORM,
                    {"consent": "accept" if answer.accepted else "decline"},
                    message_key=_consent_key(activity),
                )
                if claim is not None:
                    self._spawn(
                        self._lifecycle.once(
                            claim, lambda: self._deliver_file(turn_context, activity, answer)
                        )
                    )
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
                user = await self._services.users.upsert_user(person_of(activity))
                # Teams sends the whole verdict at once: the comment ("" when none) replaces any
                # earlier one.
                await self._services.feedback.record(
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

        async def deliver(_name: str, content: bytes, _type: str | None) -> None:
            # Raises PlatformError: the reply then says so, offers to try again, and the
            # audit line says "failed".
            await upload(answer.upload_url, content)

        reply = await self._services.commands.handle(request, deliver=deliver)
        if reply.file_content is None:
            await outbox.send(command_reply_activity(reply))
            return
        await outbox.send(file_info_activity(answer))


def _form_key(activity: Activity, command: str) -> str | None:
    """A new verified answer sent twice from the same card with the same words (a double
    press) is the same submission: one answer, not two. Other forms (an edit) may be sent
    again on purpose."""
    if not command.lower().startswith("answers add"):
        return None
    digest = hashlib.sha256(command.encode()).hexdigest()[:32]
    card = activity.reply_to_id or ""
    return f"teams:form:{activity.conversation.id}:{card}:{user_key(activity)}:{digest}"


def _consent_key(activity: Activity) -> str | None:
    """A FileConsentCard is answered once: Teams may send the answer again (a late ack) or the
    card may be pressed twice before Teams swaps it for the result; either is the same answer."""
    card = activity.reply_to_id
    if not card:
        return None
    return f"teams:consent:{activity.conversation.id}:{card}:{user_key(activity)}"


def is_personal_command(activity: Activity) -> bool:
    return conversation_type(activity) == PERSONAL and is_command(question_text(activity))


def _command_request(activity: Any, text: str) -> CommandRequest:
    request = CommandRequest.parse(
        person_of(activity),
        thread_of(activity),
        text,
        mentions=other_mentions(activity),
        timezone=client_timezone(activity),
    )
    # Where the person's member record is read, if they are not known yet.
    return replace(request, extras=chat_event(activity).extras)
