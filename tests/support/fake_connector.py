"""A local Bot Connector (Teams' side of ``serviceUrl``) that enforces Teams' rules.

The bot's real botbuilder client talks to it over HTTP. It keeps what a user would see (the
messages in each conversation, edits applied) and every request, and refuses what Teams
refuses:

- streaming (``typing`` or ``message`` with a ``streaminfo`` entity) only in personal chats,
  405 elsewhere; one open stream per chat;
- the first streaming request gets 201 and the new stream id, the next ones 202;
  ``streamSequence`` starts at 1 and only goes up; each chunk must contain the one before;
- at most one request a second per stream, and not while the previous one is in flight
  (429, with ``Retry-After``);
- the final message has ``streamType: final``, the stream's id, no sequence, and exactly the
  text last streamed;
- after the user pressed Stop, past the time limit, or once final: 403
  ``ContentStreamNotAllowed``;
- edits (``PUT …/activities/{id}``): only of a message the bot sent in that conversation
  (404), only as a ``message`` whose cards pass the same checks as a new one (400), about 7 a
  second and 60 in 30 seconds per conversation (429);
- messages over 100 KB (UTF-16, as Teams counts) get 413 ``MessageSizeTooBig``;
- with ``expected_token`` set, calls without that bearer token get 401.

``fail_next(status, times)`` makes the next ordinary send/edit calls fail, for retry tests.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PERSONAL = "personal"
GROUP_CHAT = "groupChat"
CHANNEL = "channel"
BOT_ID = "28:switchboard-bot"
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"


def kind_of(conversation_id: str) -> str:
    """Teams' conversation id shapes: ``a:…`` personal, ``…@thread.v2`` group chat,
    ``…@thread.tacv2`` / ``…@thread.skype`` channels."""
    if conversation_id.startswith("a:"):
        return PERSONAL
    if "@thread.tacv2" in conversation_id or "@thread.skype" in conversation_id:
        return CHANNEL
    return GROUP_CHAT


@dataclass
class Request:
    """One call the bot made, and how the fake answered."""

    method: str
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    status: int
    at: float
    authorization: str | None

    @property
    def stream_info(self) -> dict[str, Any] | None:
        for entity in self.body.get("entities") or ():
            if entity.get("type") == "streaminfo":
                return entity
        return None


@dataclass
class Stream:
    """One streamed reply as Teams tracks it."""

    stream_id: str
    conversation_id: str
    started_at: float
    chunks: list[tuple[int, str, str]] = field(default_factory=list)  # (sequence, type, text)
    final: dict[str, Any] | None = None
    stopped: bool = False
    last_at: float = 0.0
    in_flight: bool = False

    @property
    def streamed_text(self) -> str:
        texts = [text for _, kind, text in self.chunks if kind == "streaming"]
        return texts[-1] if texts else ""


@dataclass
class Message:
    """A message as the chat shows it, with its edits."""

    id: str
    conversation_id: str
    activity: dict[str, Any]
    reply_to: str | None
    edits: int = 0

    @property
    def text(self) -> str:
        return str(self.activity.get("text") or "")

    def entity(self, kind: str) -> dict[str, Any] | None:
        for entity in self.activity.get("entities") or ():
            if entity.get("type") == kind:
                return entity
        return None


@dataclass
class FakeConnector:
    """The fake's state: what the bot sent, what users see, and the rules' knobs."""

    base_url: str = ""
    min_interval_s: float = 1.0
    stream_time_limit_s: float = 120.0
    max_message_bytes: int = 100 * 1024
    edit_burst: int = 7  # per second per conversation
    edit_window: tuple[int, float] = (60, 30.0)
    latency_s: float = 0.0
    expected_token: str | None = None
    stop_after_chunks: int | None = None  # the user presses Stop after seeing this many
    requests: list[Request] = field(default_factory=list)
    messages: dict[str, list[Message]] = field(default_factory=dict)
    streams: dict[str, Stream] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    # Files in "OneDrive" by the uniqueId Teams gave them (file consent flow).
    files: dict[str, bytes] = field(default_factory=dict)
    offers: dict[str, dict[str, Any]] = field(default_factory=dict)  # uniqueId → uploadInfo
    onedrive_down: bool = False  # OneDrive answers every upload with 503
    # The member records Teams keeps (``GET /v3/conversations/{id}/members/{member}``): email
    # by Teams user id; a member not listed is ``{name}@contoso.com`` from "29:{name}".
    member_emails: dict[str, str] = field(default_factory=dict)
    members_down: bool = False  # the member lookup answers 503
    member_lookups: list[str] = field(default_factory=list)  # the member ids asked for
    _failures: list[int] = field(default_factory=list)
    _edits: dict[str, list[float]] = field(default_factory=dict)
    _changed: asyncio.Condition | None = None

    # -- set-up -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        base = "/v3/conversations/{conversation_id}/activities"
        app.router.add_post(base, self._send)
        app.router.add_post(base + "/{activity_id}", self._send)
        app.router.add_put(base + "/{activity_id}", self._update)
        app.router.add_put("/onedrive/upload/{unique_id}", self._upload)
        app.router.add_get("/v3/conversations/{conversation_id}/members/{member_id}", self._member)
        return app

    async def _member(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response(self._error("Unauthorized", "bad token"), status=401)
        member = request.match_info["member_id"]
        self.member_lookups.append(member)
        if self.members_down:
            return web.json_response(self._error("ServiceError", "down"), status=503)
        name = member.split(":", 1)[-1]
        email = self.member_emails.get(member, f"{name}@contoso.com")
        return web.json_response(
            {
                "id": member,
                "name": name.title(),
                "aadObjectId": f"aad-{name}",
                "email": email,
                "userPrincipalName": email,
                "tenantId": "tenant-1",
                "userRole": "user",
            }
        )

    def fail_next(self, status: int, times: int = 1) -> None:
        self._failures.extend([status] * times)

    def activity(
        self,
        text: str,
        *,
        kind: str = PERSONAL,
        user: str = "29:alice",
        user_name: str = "Alice Example",
        aad: str = "aad-alice",
        conversation: str | None = None,
        activity_id: str | None = None,
        tenant: str = "tenant-1",
        mention_bot: bool | None = None,
        bot_name: str = "Switchboard",
    ) -> dict[str, Any]:
        """An incoming message activity as Teams would post it to the bot."""
        activity_id = activity_id or f"1{uuid.uuid4().int % 10**12:012d}"
        if conversation is None:
            conversation = {
                PERSONAL: f"a:personal-{user}",
                GROUP_CHAT: "19:group-chat-1@thread.v2",
                CHANNEL: f"19:general@thread.tacv2;messageid={activity_id}",
            }[kind]
        self.kinds[conversation] = kind
        mention = kind != PERSONAL if mention_bot is None else mention_bot
        entities: list[dict[str, Any]] = [
            {"type": "clientInfo", "locale": "en-US", "timezone": "Europe/Berlin"}
        ]
        if mention:
            text = f"<at>{bot_name}</at> {text}"
            entities.append(
                {
                    "type": "mention",
                    "text": f"<at>{bot_name}</at>",
                    "mentioned": {"id": BOT_ID, "name": bot_name},
                }
            )
        channel_data: dict[str, Any] = {"tenant": {"id": tenant}}
        if kind == CHANNEL:
            channel_data.update(
                {
                    "team": {"id": "19:team-1@thread.tacv2"},
                    "channel": {"id": conversation.split(";")[0]},
                }
            )
        return {
            "type": "message",
            "id": activity_id,
            "timestamp": "2025-01-06T09:00:00.000Z",
            "serviceUrl": self.base_url,
            "channelId": "msteams",
            "from": {"id": user, "name": user_name, "aadObjectId": aad},
            "conversation": {"id": conversation, "conversationType": kind, "tenantId": tenant},
            "recipient": {"id": BOT_ID, "name": bot_name},
            "textFormat": "plain",
            "text": text,
            "entities": entities,
            "channelData": channel_data,
        }

    def bot_added(self, *, kind: str = PERSONAL, user: str = "29:alice") -> dict[str, Any]:
        """The conversationUpdate Teams sends when the app is installed in a chat."""
        activity = self.activity("", kind=kind, user=user, mention_bot=False)
        activity.update(
            {"type": "conversationUpdate", "text": None, "membersAdded": [{"id": BOT_ID}]}
        )
        return activity

    def feedback(
        self, message: Message, reaction: str, text: str, *, user: str = "29:alice"
    ) -> dict[str, Any]:
        """The invoke Teams sends when a user rates a message with the feedback buttons."""
        activity = self.activity(
            "",
            kind=self.kinds.get(message.conversation_id, PERSONAL),
            user=user,
            conversation=message.conversation_id,
            mention_bot=False,
        )
        activity.update(
            {
                "type": "invoke",
                "name": "message/submitAction",
                "text": None,
                "replyToId": message.id,
                "value": {
                    "actionName": "feedback",
                    "actionValue": {
                        "reaction": reaction,
                        "feedback": json.dumps({"feedbackText": text}),
                    },
                },
            }
        )
        return activity

    def file_consent(
        self,
        message: Message,
        *,
        action: str = "accept",
        user: str = "29:alice",
        aad: str = "aad-alice",
    ) -> dict[str, Any]:
        """The invoke Teams sends when a user answers the FileConsentCard in ``message``:
        on accept, an upload session in their OneDrive (``uploadInfo``)."""
        [card] = [
            a
            for a in message.activity.get("attachments") or ()
            if a.get("contentType") == FILE_CONSENT
        ]
        content = card["content"]
        context = content["acceptContext" if action == "accept" else "declineContext"]
        value: dict[str, Any] = {"type": "fileUpload", "action": action, "context": context}
        if action == "accept":
            unique_id = uuid.uuid4().hex[:12].upper()
            value["uploadInfo"] = {
                "contentUrl": f"https://contoso-my.sharepoint.com/personal/{aad}/{card['name']}",
                "fileType": card["name"].rsplit(".", 1)[-1],
                "name": card["name"],
                "uploadUrl": f"{self.base_url}/onedrive/upload/{unique_id}",
                "uniqueId": unique_id,
            }
            self.offers[unique_id] = value["uploadInfo"]
        activity = self.activity(
            "", user=user, aad=aad, conversation=message.conversation_id, mention_bot=False
        )
        activity.update(
            {"type": "invoke", "name": "fileConsent/invoke", "text": None, "value": value}
        )
        activity["replyToId"] = message.id
        return activity

    async def _upload(self, request: web.Request) -> web.Response:
        """OneDrive's upload session: one PUT whose Content-Range covers the whole file."""
        unique_id = request.match_info["unique_id"]
        data = await request.read()
        size = len(data)
        expected = f"bytes 0-{size - 1}/{size}"
        if self.onedrive_down:
            return web.json_response({"error": {"code": "serviceNotAvailable"}}, status=503)
        if unique_id not in self.offers or unique_id in self.files:
            return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
        if size == 0 or request.headers.get("Content-Range") != expected:
            return web.json_response({"error": {"code": "invalidRange"}}, status=416)
        self.files[unique_id] = data
        info = self.offers[unique_id]
        return web.json_response({"id": unique_id, "name": info["name"], "size": size}, status=201)

    def _file_card_error(self, conversation_id: str, body: dict[str, Any]) -> str | None:
        """Teams' rules for file cards: consent only in a personal chat, and a file info card
        only for a file that was uploaded, with the upload's URL and id."""
        for attachment in body.get("attachments") or ():
            kind = attachment.get("contentType")
            if kind == FILE_CONSENT:
                content = attachment.get("content") or {}
                if self.kinds.get(conversation_id, kind_of(conversation_id)) != PERSONAL:
                    return "file consent cards work only in personal chats"
                if not attachment.get("name") or not isinstance(content.get("sizeInBytes"), int):
                    return "a file consent card needs a name and sizeInBytes"
            elif kind == FILE_INFO:
                unique_id = (attachment.get("content") or {}).get("uniqueId")
                info = self.offers.get(str(unique_id))
                if unique_id not in self.files or info is None:
                    return "file info card for a file that was not uploaded"
                if attachment.get("contentUrl") != info["contentUrl"]:
                    return "file info card with the wrong contentUrl"
        return None

    # -- what the user sees -----------------------------------------------------------------

    def visible(self, conversation_id: str) -> list[Message]:
        return list(self.messages.get(conversation_id, []))

    def streams_in(self, conversation_id: str) -> list[Stream]:
        return [s for s in self.streams.values() if s.conversation_id == conversation_id]

    def statuses(self, code: int) -> list[Request]:
        return [r for r in self.requests if r.status == code]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``condition()`` holds (re-checked after every request)."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), timeout)

    async def _notify(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            self._changed.notify_all()

    # -- the rules --------------------------------------------------------------------------

    def _record(self, request: web.Request, body: dict[str, Any], status: int) -> None:
        self.requests.append(
            Request(
                method=request.method,
                conversation_id=request.match_info["conversation_id"],
                activity_id=request.match_info.get("activity_id"),
                body=body,
                status=status,
                at=time.monotonic(),
                authorization=request.headers.get("Authorization"),
            )
        )

    async def _answer(
        self,
        request: web.Request,
        body: dict[str, Any],
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        self._record(request, body, status)
        await self._notify()
        return web.json_response(payload, status=status, headers=headers)

    def _error(self, code: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message}}

    def _too_big(self, raw: bytes) -> bool:
        return len(raw.decode("utf-8").encode("utf-16-le")) > self.max_message_bytes

    def _authorized(self, request: web.Request) -> bool:
        return self.expected_token is None or (
            request.headers.get("Authorization") == f"Bearer {self.expected_token}"
        )

    async def _send(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        conversation_id = request.match_info["conversation_id"]
        if not self._authorized(request):
            return await self._answer(request, body, 401, self._error("Unauthorized", "bad token"))
        if self._too_big(raw):
            return await self._answer(
                request, body, 413, self._error("MessageSizeTooBig", "message too large")
            )
        info = next((e for e in body.get("entities") or () if e.get("type") == "streaminfo"), None)
        if info is not None:
            return await self._stream(request, body, info, conversation_id)
        if (problem := self._file_card_error(conversation_id, body)) is not None:
            return await self._answer(request, body, 400, self._error("BadArgument", problem))
        if (problem := _adaptive_card_error(body)) is not None:
            return await self._answer(request, body, 400, self._error("BadArgument", problem))
        if self._failures:
            status = self._failures.pop(0)
            return await self._answer(
                request,
                body,
                status,
                self._error("Failure", f"injected {status}"),
                {"Retry-After": "0"} if status == 429 else None,
            )
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        message = Message(
            id=f"msg-{uuid.uuid4().hex[:10]}",
            conversation_id=conversation_id,
            activity=body,
            reply_to=request.match_info.get("activity_id"),
        )
        self.messages.setdefault(conversation_id, []).append(message)
        return await self._answer(request, body, 201, {"id": message.id})

    async def _stream(
        self, request: web.Request, body: dict[str, Any], info: dict[str, Any], conversation_id: str
    ) -> web.Response:
        kind = self.kinds.get(conversation_id, kind_of(conversation_id))
        if kind != PERSONAL:
            return await self._answer(
                request,
                body,
                405,
                self._error("BadArgument", "Streaming is only supported in personal chats"),
            )
        stream_type = info.get("streamType")
        stream_id = info.get("streamId")
        now = time.monotonic()
        if stream_id is None:
            return await self._start(request, body, info, conversation_id, now)
        stream = self.streams.get(stream_id)
        if stream is None or stream.conversation_id != conversation_id:
            return await self._answer(request, body, 404, self._error("NotFound", "no such stream"))
        refusal = self._refusal(stream, now)
        if refusal is not None:
            return await self._answer(
                request, body, 403, self._error("ContentStreamNotAllowed", refusal)
            )
        if stream.in_flight or now - stream.last_at < self.min_interval_s:
            return await self._answer(
                request,
                body,
                429,
                self._error("Throttled", "Too many requests for this stream"),
                {"Retry-After": str(self.min_interval_s)},
            )
        text = str(body.get("text") or "")
        if stream_type == "final":
            if body.get("type") != "message" or "streamSequence" in info:
                return await self._answer(
                    request,
                    body,
                    400,
                    self._error("BadArgument", "final is a message without streamSequence"),
                )
            if stream.streamed_text and text != stream.streamed_text:
                return await self._answer(
                    request,
                    body,
                    400,
                    self._error("BadArgument", "final text must equal the streamed text"),
                )
            stream.final = body
            stream.last_at = now
            self.messages.setdefault(conversation_id, []).append(
                Message(id=stream_id, conversation_id=conversation_id, activity=body, reply_to=None)
            )
            return await self._answer(request, body, 200, {"id": stream_id})
        checked = self._check_chunk(stream, body, info, text)
        if checked is not None:
            status, payload = checked
            return await self._answer(request, body, status, payload)
        stream.in_flight = True
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
        finally:
            stream.in_flight = False
        stream.chunks.append((int(info["streamSequence"]), str(stream_type), text))
        stream.last_at = time.monotonic()
        streaming = sum(1 for _, t, _ in stream.chunks if t == "streaming")
        if self.stop_after_chunks is not None and streaming >= self.stop_after_chunks:
            stream.stopped = True
        return await self._answer(request, body, 202, {"id": stream_id})

    async def _start(
        self,
        request: web.Request,
        body: dict[str, Any],
        info: dict[str, Any],
        conversation_id: str,
        now: float,
    ) -> web.Response:
        if any(
            s.final is None and not s.stopped and now - s.started_at < self.stream_time_limit_s
            for s in self.streams_in(conversation_id)
        ):
            return await self._answer(
                request,
                body,
                403,
                self._error("ContentStreamNotAllowed", "Another stream is active in this chat"),
            )
        if (
            info.get("streamType") not in {"informative", "streaming"}
            or info.get("streamSequence") != 1
        ):
            return await self._answer(
                request,
                body,
                400,
                self._error("BadArgument", "a stream starts with streamSequence 1"),
            )
        if body.get("type") != "typing":
            return await self._answer(
                request, body, 400, self._error("BadArgument", "chunks are typing activities")
            )
        stream = Stream(
            stream_id=f"stream-{uuid.uuid4().hex[:10]}",
            conversation_id=conversation_id,
            started_at=now,
        )
        self.streams[stream.stream_id] = stream
        stream.in_flight = True
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
        finally:
            stream.in_flight = False
        stream.chunks.append((1, str(info["streamType"]), str(body.get("text") or "")))
        stream.last_at = time.monotonic()
        return await self._answer(request, body, 201, {"id": stream.stream_id})

    def _refusal(self, stream: Stream, now: float) -> str | None:
        if stream.final is not None:
            return "Content stream is not allowed on an already completed streamed message."
        if stream.stopped:
            return "Content stream was cancelled by user."
        if now - stream.started_at > self.stream_time_limit_s:
            return "Content stream finished due to exceeded streaming time."
        return None

    def _check_chunk(
        self, stream: Stream, body: dict[str, Any], info: dict[str, Any], text: str
    ) -> tuple[int, dict[str, Any]] | None:
        if body.get("type") != "typing" or info.get("streamType") not in {
            "informative",
            "streaming",
        }:
            return 400, self._error("BadArgument", "chunks are typing activities")
        sequence = info.get("streamSequence")
        last = stream.chunks[-1][0] if stream.chunks else 0
        if not isinstance(sequence, int) or sequence <= last:
            return 400, self._error("BadArgument", f"streamSequence {sequence} after {last}")
        if info.get("streamType") == "streaming" and not text.startswith(stream.streamed_text):
            return 403, self._error(
                "ContentStreamNotAllowed",
                "Request streamed content should contain the previously streamed content.",
            )
        return None

    async def _update(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        conversation_id = request.match_info["conversation_id"]
        activity_id = request.match_info["activity_id"]
        if not self._authorized(request):
            return await self._answer(request, body, 401, self._error("Unauthorized", "bad token"))
        if self._too_big(raw):
            return await self._answer(
                request, body, 413, self._error("MessageSizeTooBig", "message too large")
            )
        message = next(
            (m for m in self.messages.get(conversation_id, []) if m.id == activity_id), None
        )
        if message is None:
            return await self._answer(
                request, body, 404, self._error("NotFound", "no such message")
            )
        # An edit replaces the whole message and is held to the rules of a new one.
        if body.get("type") != "message":
            return await self._answer(
                request, body, 400, self._error("BadArgument", "only a message can be updated")
            )
        if (problem := self._file_card_error(conversation_id, body)) is not None:
            return await self._answer(request, body, 400, self._error("BadArgument", problem))
        if (problem := _adaptive_card_error(body)) is not None:
            return await self._answer(request, body, 400, self._error("BadArgument", problem))
        if self._failures:
            status = self._failures.pop(0)
            return await self._answer(
                request,
                body,
                status,
                self._error("Failure", f"injected {status}"),
                {"Retry-After": "0"} if status == 429 else None,
            )
        now = time.monotonic()
        recent = [t for t in self._edits.get(conversation_id, []) if now - t < self.edit_window[1]]
        if (
            sum(1 for t in recent if now - t < 1.0) >= self.edit_burst
            or len(recent) >= self.edit_window[0]
        ):
            return await self._answer(
                request, body, 429, self._error("Throttled", "Too many edits"), {"Retry-After": "1"}
            )
        recent.append(now)
        self._edits[conversation_id] = recent
        message.activity = body
        message.edits += 1
        return await self._answer(request, body, 200, {"id": activity_id})


_ACTIONS = {"Action.Submit", "Action.OpenUrl", "Action.ShowCard", "Action.Execute"}
_MAX_CARD_VERSION = (1, 5)


def _adaptive_card_error(body: dict[str, Any]) -> str | None:
    """Teams' rules for Adaptive Cards the bot sends: version 1.5 at most, known actions,
    Action.Submit data an object, inputs with unique ids (checked through ShowCard cards)."""
    for attachment in body.get("attachments") or ():
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            continue
        card = attachment.get("content") or {}
        version = tuple(int(p) for p in str(card.get("version") or "0").split("."))
        if version > _MAX_CARD_VERSION:
            return f"Adaptive Card version {card.get('version')} is above 1.5"
        ids: set[str] = set()
        if (problem := _card_problem(card, ids)) is not None:
            return problem
    return None


def _card_problem(card: dict[str, Any], ids: set[str]) -> str | None:
    elements = list(card.get("body") or ())
    actions = list(card.get("actions") or ())
    while elements:
        element = elements.pop()
        kind = str(element.get("type") or "")
        if kind.startswith("Input."):
            key = element.get("id")
            if not key or key in ids:
                return f"input without a unique id: {key!r}"
            ids.add(key)
        elements.extend(element.get("items") or ())
        actions.extend(element.get("actions") or ())
    for action in actions:
        kind = action.get("type")
        if kind not in _ACTIONS:
            return f"unknown action {kind!r}"
        if kind == "Action.Submit" and not isinstance(action.get("data", {}), dict | str):
            return "Action.Submit data must be an object or a string"
        nested = action.get("card") if kind == "Action.ShowCard" else None
        if nested is not None and (problem := _card_problem(nested, ids)) is not None:
            return problem
    return None
