"""A toy chat platform, whole in this one file: the proof that a platform is one folder plus
one registry line (docs/architecture.md, "Adding a platform").

Toy delivers a message as ``POST /toy/messages`` with ``{"id", "team", "chat", "user",
"text"}`` and shows answers in ``ToyChat``, which records every message and its edits. It can
be told to refuse the next few answers (``ToyChat.refuse``, HTTP 503 as a platform would),
which is how a test makes an attempt fail. Everything else — the inbox, dedupe, retries, the
failure texts, redelivery by the inbox worker — is the core's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bots.runtime import Runtime
from core.answers import Answer
from core.errors import PlatformError
from core.events import ChatEvent, ConversationKind, Person, ThreadRef
from core.lifecycle import AnswerAgain, Question, QuestionLifecycle, Record, Reply
from core.settings import Settings, SettingsPart
from core.worker import ClaimedEvent

PLATFORM = "toy"
ROUTE = "/toy/messages"


class ToySettings(SettingsPart):
    """Toy's own settings (``TOY_…``)."""

    model_config = SettingsConfigDict(env_prefix="TOY_")

    toy_greeting: str = Field("hello", alias="TOY_GREETING")


@dataclass(slots=True)
class ToyMessage:
    """One message the bot showed in a chat, with every text it has had."""

    id: str
    texts: list[str]

    @property
    def text(self) -> str:
        return self.texts[-1]


@dataclass(slots=True)
class ToyChat:
    """The platform's side: the chats and what the bot showed in them."""

    chats: dict[str, list[ToyMessage]] = field(default_factory=dict)
    refuse: int = 0  # answers to refuse before taking one

    def post(self, chat: str, text: str) -> str:
        messages = self.chats.setdefault(chat, [])
        message = ToyMessage(id=f"{chat}/{len(messages) + 1}", texts=[text])
        messages.append(message)
        return message.id

    def edit(self, chat: str, message_id: str, text: str) -> None:
        for message in self.chats.get(chat, []):
            if message.id == message_id:
                message.texts.append(text)
                return
        raise PlatformError("no such message", status=404)


class ToyReply:
    """A ``ReplyStream`` that shows the whole answer at the end, in one message (the one an
    earlier attempt left, when there is one)."""

    def __init__(self, chat: ToyChat, where: str, resume: str | None, record: Record | None):
        self._chat = chat
        self._where = where
        self._message = resume
        self._record = record
        self.closed = False
        self.delivered = True

    async def status(self, text: str) -> None:
        return

    async def append(self, delta: str) -> None:
        return

    async def finish(self, answer: Answer) -> None:
        if self._chat.refuse > 0:
            self._chat.refuse -= 1
            raise PlatformError("toy is down", status=503)
        self._show(answer.text)
        self.closed = True

    async def fail(self, reason: str) -> None:
        self._show(reason)
        self.closed = True

    def kept(self) -> Mapping[str, object] | None:
        return {"message": self._message} if self._message else None

    def _show(self, text: str) -> None:
        if self._message is None:
            self._message = self._chat.post(self._where, text)
            if self._record is not None:
                self._record({"message": self._message})
        else:
            self._chat.edit(self._where, self._message, text)


@dataclass(frozen=True, slots=True)
class ToyPlace:
    """Where one toy question is answered."""

    chat: ToyChat
    where: str

    @property
    def conversation(self) -> str:
        return f"{PLATFORM}:{self.where}"

    async def open(self, claim: ClaimedEvent | None, record: Record | None) -> Reply:
        resume = claim.progress.get("message") if claim is not None else None
        return ToyReply(self.chat, self.where, resume if isinstance(resume, str) else None, record)

    async def answered(self, answer: Answer, reply: Reply) -> None:
        return

    def ended(self, reply: Reply) -> None:
        return


def to_event(message: Mapping[str, Any]) -> ChatEvent:
    """A toy message as the core's event."""
    team, chat = str(message["team"]), str(message["chat"])
    return ChatEvent(
        person=Person(PLATFORM, team, str(message["user"])),
        thread=ThreadRef(PLATFORM, team, chat, chat, kind=ConversationKind.DM),
        text=str(message["text"]),
        event_key=f"{PLATFORM}:{message['id']}",
    )


class ToyPlatform:
    """``bots.platform.Platform`` and ``core.lifecycle.PlatformDoor`` for the toy."""

    name = PLATFORM
    label = "Toy"
    settings = ToySettings
    personal_data = None
    migrations: tuple[str, ...] = ()

    def __init__(self, chat: ToyChat) -> None:
        self.chat = chat
        self.tasks: set[asyncio.Task[Any]] = set()
        self._lifecycle: QuestionLifecycle | None = None

    def configured(self, settings: Settings) -> bool:
        return True

    def describe(self, settings: Settings, base: str) -> str:
        return f"{base}{ROUTE}"

    def mount(self, app: web.Application, runtime: Runtime) -> None:
        lifecycle = self._lifecycle = runtime.lifecycle
        lifecycle.register(PLATFORM, self)

        async def messages(request: web.Request) -> web.Response:
            message = await request.json()
            await lifecycle.take(self._question(message), {"message": message})
            return web.Response(status=200)

        app.router.add_post(ROUTE, messages)

    def _question(self, message: Mapping[str, Any]) -> Question:
        return Question(to_event(message), ToyPlace(self.chat, str(message["chat"])))

    # -- core.lifecycle.PlatformDoor -----------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def again(self, claim: ClaimedEvent, answer: AnswerAgain) -> bool:
        message = claim.payload.get("message")
        if not isinstance(message, Mapping):
            return False
        await answer(self._question(message))
        return True

    async def tell(self, claim: ClaimedEvent, text: str) -> None:
        message = claim.payload.get("message")
        if isinstance(message, Mapping):
            reply = await ToyPlace(self.chat, str(message["chat"])).open(claim, None)
            await reply.fail(text)
