"""A local Slack Web API for tests and benchmarks: the real slack_sdk client talks to it over HTTP.

It enforces what Slack enforces, so the adapter meets Slack's rules here before it meets Slack:

- per-method rate tiers per workspace over a sliding window (Tier 2 = 20 calls a minute…),
  ``chat.postMessage`` per channel, answered with HTTP 429, ``Retry-After`` and ``ratelimited``;
- text and block limits: ``msg_too_long`` over 4,000 chars of ``text``, at most 50 blocks in a
  message (100 in a view), 3,000 chars in a section, 12,000 chars of markdown per payload and per
  streaming call, a streamed message holding at most 12,000 chars;
- stream states: ``chat.appendStream``/``stopStream`` on a message that is not streaming, or
  whose stream expired (``stream_ttl_s``, about 5 minutes on Slack), get
  ``message_not_in_streaming_state``; channels need ``recipient_user_id``/``recipient_team_id``.

Every call is recorded (``calls``) with what came back. The tier table is written out here on
purpose rather than imported from the adapter, so a wrong table there fails tests here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

# Calls per window (a minute on Slack) per app per workspace. None: not limited here.
TIERS: dict[str, int | None] = {
    "chat.startStream": 20,
    "chat.stopStream": 20,
    "chat.appendStream": 100,
    "chat.update": 50,
    "chat.delete": 50,
    "chat.postEphemeral": 100,
    "chat.getPermalink": None,
    "assistant.threads.setStatus": 100,
    "assistant.threads.setSuggestedPrompts": 100,
    "assistant.threads.setTitle": 100,
    "views.publish": 100,
    "views.open": 100,
    "views.update": 100,
    "conversations.open": 50,
    "users.info": 100,
    "files.getUploadURLExternal": 20,
    "files.completeUploadExternal": 20,
    "oauth.v2.access": 100,
    "apps.connections.open": 20,
    "auth.test": None,
}
# chat.postMessage: about one a second per channel, short bursts allowed.
POST_MESSAGE_BURST = 5
POST_MESSAGE_SPAN = 1 / 12  # of the window: 5 s on Slack

TEXT_LIMIT = 4_000
MARKDOWN_LIMIT = 12_000
SECTION_LIMIT = 3_000
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100


@dataclass
class FakeCall:
    """One request as the fake saw it, and what it answered."""

    method: str
    team_id: str | None
    args: dict[str, Any]
    at: float
    status: int = 200
    error: str | None = None
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass
class FakeMessage:
    """A message in a channel, posted or streamed by the bot."""

    channel: str
    ts: str
    thread_ts: str | None
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    streaming: bool = False
    started_at: float = 0.0
    updates: int = 0
    recipient_user_id: str | None = None

    @property
    def body(self) -> str:
        """What a reader sees as the message's prose: streamed text, else its markdown blocks,
        else ``text``."""
        if self.text and not self._markdown_blocks():
            return self.text
        markdown = self._markdown_blocks()
        return "".join(markdown) if markdown else self.text

    def _markdown_blocks(self) -> list[str]:
        return [b.get("text", "") for b in self.blocks if b.get("type") == "markdown"]


@dataclass
class Workspace:
    """A workspace the fake knows, with the bot's identity in it."""

    team_id: str
    bot_token: str
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    enterprise_id: str | None = None
    team_name: str = "Acme"


class _RateLimitedError(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        self.error = error
        self.extra = extra


class FakeSlack:
    """The fake's state. ``app()`` serves it; tests read ``calls`` and ``messages``.

    ``window_s`` is the length of Slack's rate-limit window (60 s); tests shrink it together
    with ``SLACK_PACING_WINDOW_S`` so a minute's budget passes in a few seconds.
    """

    def __init__(
        self,
        *,
        window_s: float = 60.0,
        stream_ttl_s: float = 300.0,
        tiers: Mapping[str, int | None] | None = None,
        latency_s: float = 0.0,
        streaming: bool = True,
    ) -> None:
        self.window_s = window_s
        self.streaming = streaming  # False: a workspace where chat.startStream is unavailable
        self.stream_ttl_s = stream_ttl_s
        self.tiers = dict(TIERS if tiers is None else tiers)
        self.latency_s = latency_s
        self.workspaces: dict[str, Workspace] = {}
        self.calls: list[FakeCall] = []
        self.messages: dict[str, list[FakeMessage]] = defaultdict(list)
        self.home_views: dict[str, dict[str, Any]] = {}
        self.opened_views: list[dict[str, Any]] = []
        self.ephemerals: list[FakeMessage] = []
        self.statuses: list[dict[str, Any]] = []
        self.suggested_prompts: list[dict[str, Any]] = []
        self.titles: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # posts to response_url
        self.uploads: list[dict[str, Any]] = []
        self.user_timezones: dict[str, str] = {}  # users.info ``tz`` by user id (else UTC)
        # users.info ``profile.email`` by user id (else ``{id}@example.com``), and the ids whose
        # email Slack has not confirmed (``is_email_confirmed`` false).
        self.user_emails: dict[str, str] = {}
        # users.info ``locale`` by user id (else en-US), sent only with ``include_locale``.
        self.user_locales: dict[str, str] = {}
        self.unconfirmed: set[str] = set()
        self.oauth_grants: dict[str, dict[str, Any]] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_ready = asyncio.Event()
        self._storms: dict[str, int] = {}
        self._outages: dict[str, tuple[int, int]] = {}
        self._windows: dict[tuple[str, ...], deque[float]] = defaultdict(deque)
        self._ts = itertools.count(1)
        self._base_url = ""

    # -- set-up -------------------------------------------------------------------------------

    def add_workspace(self, team_id: str, bot_token: str, **kwargs: Any) -> Workspace:
        workspace = Workspace(team_id=team_id, bot_token=bot_token, **kwargs)
        self.workspaces[bot_token] = workspace
        return workspace

    def storm(self, method: str, times: int) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After: 1``."""
        self._storms[method] = self._storms.get(method, 0) + times

    def outage(self, method: str, times: int, *, status: int = 500) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status`` (a 5xx: Slack's
        backend having a bad minute), before doing anything."""
        self._outages[method] = (self._outages.get(method, (0, status))[0] + times, status)

    def recover(self) -> None:
        """End every outage now."""
        self._outages.clear()

    def set_base_url(self, url: str) -> None:
        self._base_url = url.rstrip("/")

    @property
    def base_url(self) -> str:
        """Where the fake is served: ``/api/`` is the Web API, ``/response/`` the response_urls."""
        return self._base_url

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        return app

    # -- what tests read ----------------------------------------------------------------------

    def calls_to(self, method: str) -> list[FakeCall]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[FakeMessage]:
        """The bot's messages in one thread, oldest first."""
        return [m for m in self.messages[channel] if m.thread_ts == thread_ts]

    def thread_text(self, channel: str, thread_ts: str) -> str:
        return "".join(m.body for m in self.thread(channel, thread_ts))

    @property
    def rate_limited(self) -> list[FakeCall]:
        return [c for c in self.calls if c.status == 429]

    # -- Socket Mode --------------------------------------------------------------------------

    async def wait_for_socket(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self._socket_ready.wait(), timeout)

    async def push_envelope(self, payload: dict[str, Any], *, kind: str = "events_api") -> str:
        """Send an envelope to every connected Socket Mode client; return its envelope id."""
        envelope_id = uuid.uuid4().hex
        message = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_str(json.dumps(message))
        return envelope_id

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._socket_ready.set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.socket_acks.append(data)
        finally:
            self._sockets.remove(ws)
        return ws

    async def close_sockets(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append({"key": request.match_info["key"], **(await request.json())})
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        for upload in self.uploads:
            if upload["file_id"] == request.match_info["file_id"]:
                upload["content"] = data
        return web.Response(text="OK - uploaded")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        token = args.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ")
        workspace = self.workspaces.get(token or "")
        call = FakeCall(method, workspace.team_id if workspace else None, args, time.monotonic())
        self.calls.append(call)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        left, status = self._outages.get(method, (0, 500))
        if left:
            self._outages[method] = (left - 1, status)
            call.status, call.error = status, "internal_error"
            return web.json_response({"ok": False, "error": "internal_error"}, status=status)
        try:
            if method not in {"oauth.v2.access"} and workspace is None:
                if method == "apps.connections.open" and (token or "").startswith("xapp-"):
                    return self._ok(call, {"url": self._base_url.replace("http", "ws") + "/socket"})
                raise _ApiError("invalid_auth" if token else "not_authed")
            self._pace(call, workspace, method, args)
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None:
                raise _ApiError("unknown_method")
            result = handler(workspace, args)
            return self._ok(call, result)
        except _RateLimitedError as exc:
            call.status, call.error, call.retry_after = 429, "ratelimited", exc.retry_after
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        except _ApiError as exc:
            call.error = exc.error
            return web.json_response({"ok": False, "error": exc.error, **exc.extra})

    @staticmethod
    async def _args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            raw = await request.read()
            if ctype == "application/json":
                args.update(json.loads(raw or b"{}"))
            else:
                args.update(dict(parse_qsl(raw.decode(), keep_blank_values=True)))
        for key in ("blocks", "view", "prompts", "chunks", "files", "metadata", "loading_messages"):
            if isinstance(args.get(key), str) and args[key]:
                try:
                    args[key] = json.loads(args[key])
                except json.JSONDecodeError:
                    args[key] = None  # Slack answers invalid_* for these; so do the checks below
        return args

    @staticmethod
    def _ok(call: FakeCall, result: dict[str, Any]) -> web.Response:
        return web.json_response({"ok": True, **result})

    # -- rate limits --------------------------------------------------------------------------

    def _pace(self, call: FakeCall, workspace: Workspace | None, method: str, args: dict) -> None:
        if self._storms.get(method):
            self._storms[method] -= 1
            raise _RateLimitedError(1)
        team = workspace.team_id if workspace else "-"
        if method == "chat.postMessage":
            key: tuple[str, ...] = (team, method, str(args.get("channel")))
            limit, span = POST_MESSAGE_BURST, self.window_s * POST_MESSAGE_SPAN
        else:
            tier = self.tiers.get(method)
            if tier is None:
                return
            key, limit, span = (team, method), tier, self.window_s
        window = self._windows[key]
        now = call.at
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= limit:
            raise _RateLimitedError(max(1, math.ceil(window[0] + span - now)))
        window.append(now)

    # -- validation ---------------------------------------------------------------------------

    @staticmethod
    def _check_blocks(blocks: Any, *, most: int) -> list[dict[str, Any]]:
        if blocks is None or blocks == "":
            return []
        if not isinstance(blocks, list):
            raise _ApiError("invalid_blocks_format")
        problems: list[str] = []
        if len(blocks) > most:
            problems.append(f"no more than {most} items allowed [json-pointer:/blocks]")
        markdown_total = 0
        ids: set[str] = set()
        for i, block in enumerate(blocks):
            kind = block.get("type")
            if block.get("block_id"):
                if block["block_id"] in ids:
                    problems.append(f"duplicate block_id [json-pointer:/blocks/{i}/block_id]")
                ids.add(block["block_id"])
            if kind == "section":
                text = (block.get("text") or {}).get("text", "")
                if len(text) > SECTION_LIMIT:
                    problems.append(
                        f"must be less than 3001 characters [json-pointer:/blocks/{i}/text]"
                    )
                if not text and not block.get("fields"):
                    problems.append(f"section needs text or fields [json-pointer:/blocks/{i}]")
                for field_ in block.get("fields") or []:
                    if len(field_.get("text", "")) > 2000:
                        problems.append(f"field too long [json-pointer:/blocks/{i}/fields]")
            elif kind == "markdown":
                markdown_total += len(block.get("text", ""))
            elif kind == "header":
                if len((block.get("text") or {}).get("text", "")) > 150:
                    problems.append(f"header too long [json-pointer:/blocks/{i}/text]")
            elif kind == "context":
                if not block.get("elements") or len(block["elements"]) > 10:
                    problems.append(f"context needs 1-10 elements [json-pointer:/blocks/{i}]")
            elif kind == "context_actions":
                elements = block.get("elements") or []
                if not elements or len(elements) > 5:
                    problems.append(
                        f"context_actions needs 1-5 elements [json-pointer:/blocks/{i}]"
                    )
                for element in elements:
                    if element.get("type") == "feedback_buttons":
                        for side in ("positive_button", "negative_button"):
                            button = element.get(side) or {}
                            if not button.get("value") or len(button["value"]) > 2000:
                                problems.append(f"{side} needs a value [json-pointer:/blocks/{i}]")
                            if len((button.get("text") or {}).get("text", "")) > 75:
                                problems.append(f"{side} text too long [json-pointer:/blocks/{i}]")
            elif kind == "actions":
                elements = block.get("elements") or []
                if not elements or len(elements) > 25:
                    problems.append(f"actions needs 1-25 elements [json-pointer:/blocks/{i}]")
                for element in elements:
                    if element.get("type") != "button":
                        continue
                    if len((element.get("text") or {}).get("text", "")) > 75:
                        problems.append(f"button text too long [json-pointer:/blocks/{i}]")
                    if len(element.get("value") or "") > 2000:
                        problems.append(f"button value too long [json-pointer:/blocks/{i}]")
                    if len(element.get("action_id") or "") > 255:
                        problems.append(f"action_id too long [json-pointer:/blocks/{i}]")
            elif kind == "input":
                element = block.get("element") or {}
                if not block.get("label") or not element.get("type"):
                    problems.append(f"input needs a label and element [json-pointer:/blocks/{i}]")
                initial = element.get("initial_value")
                most_chars = element.get("max_length") or 3000
                if isinstance(initial, str) and len(initial) > most_chars:
                    problems.append(f"initial_value too long [json-pointer:/blocks/{i}]")
            elif kind in {"divider", "rich_text", "image"}:
                pass
            else:
                problems.append(f"unknown block type {kind!r} [json-pointer:/blocks/{i}]")
        if markdown_total > MARKDOWN_LIMIT:
            problems.append("markdown blocks exceed 12000 characters in total")
        if problems:
            raise _ApiError("invalid_blocks", errors=problems)
        return blocks

    @staticmethod
    def _stream_text(args: dict[str, Any]) -> str:
        text = args.get("markdown_text") or ""
        for chunk in args.get("chunks") or []:
            if chunk.get("type") == "markdown_text":
                text += chunk.get("text", "")
        if len(text) > MARKDOWN_LIMIT:
            raise _ApiError("msg_too_long")
        return text

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _find(self, channel: str, ts: str) -> FakeMessage:
        for message in self.messages.get(channel, []):
            if message.ts == ts:
                return message
        raise _ApiError("message_not_found")

    def _streaming(self, channel: str, ts: str) -> FakeMessage:
        message = self._find(channel, ts)
        if message.streaming and time.monotonic() - message.started_at > self.stream_ttl_s:
            message.streaming = False  # Slack finalised it on its own
        if not message.streaming:
            raise _ApiError("message_not_in_streaming_state")
        return message

    # -- methods ------------------------------------------------------------------------------

    def _m_auth_test(self, ws: Workspace, args: dict) -> dict[str, Any]:
        return {
            "url": f"https://{ws.team_name.lower()}.slack.com/",
            "team": ws.team_name,
            "user": "switchboard",
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "enterprise_id": ws.enterprise_id,
            "is_enterprise_install": False,
        }

    def _post(self, args: dict, *, streaming: bool = False) -> FakeMessage:
        channel = args.get("channel")
        if not channel:
            raise _ApiError("channel_not_found")
        return FakeMessage(
            channel=channel,
            ts=self._next_ts(),
            thread_ts=args.get("thread_ts"),
            streaming=streaming,
            started_at=time.monotonic(),
        )

    def _m_chat_postMessage(self, ws: Workspace, args: dict) -> dict[str, Any]:
        text = args.get("text") or ""
        blocks = self._check_blocks(args.get("blocks"), most=MESSAGE_BLOCKS)
        markdown = args.get("markdown_text") or ""
        if len(text) > TEXT_LIMIT:
            raise _ApiError("msg_too_long")
        if len(markdown) > MARKDOWN_LIMIT:
            raise _ApiError("msg_too_long")
        if not (text or blocks or markdown):
            raise _ApiError("no_text")
        message = self._post(args)
        message.text, message.blocks = (markdown or text), blocks
        self.messages[message.channel].append(message)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "message": {"text": message.text, "ts": message.ts},
        }

    def _m_chat_update(self, ws: Workspace, args: dict) -> dict[str, Any]:
        message = self._find(str(args.get("channel")), str(args.get("ts")))
        if message.streaming and time.monotonic() - message.started_at <= self.stream_ttl_s:
            raise _ApiError("cant_update_message")
        message.streaming = False
        text = args.get("text") or ""
        if len(text) > TEXT_LIMIT:
            raise _ApiError("msg_too_long")
        blocks = self._check_blocks(args.get("blocks"), most=MESSAGE_BLOCKS)
        markdown = args.get("markdown_text") or ""
        if len(markdown) > MARKDOWN_LIMIT:
            raise _ApiError("msg_too_long")
        message.text, message.blocks = (markdown or text), blocks
        message.updates += 1
        return {"channel": message.channel, "ts": message.ts, "text": message.text}

    def _m_chat_delete(self, ws: Workspace, args: dict) -> dict[str, Any]:
        message = self._find(str(args.get("channel")), str(args.get("ts")))
        self.messages[message.channel].remove(message)
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_startStream(self, ws: Workspace, args: dict) -> dict[str, Any]:
        if not self.streaming:
            raise _ApiError("unknown_method")
        channel = str(args.get("channel") or "")
        if not args.get("thread_ts"):
            raise _ApiError("invalid_arguments", detail="thread_ts is required")
        if not channel.startswith("D") and not (
            args.get("recipient_user_id") and args.get("recipient_team_id")
        ):
            raise _ApiError(
                "invalid_arguments",
                detail="recipient_user_id and recipient_team_id are required in channels",
            )
        text = self._stream_text(args)
        message = self._post(args, streaming=True)
        message.text = text
        message.recipient_user_id = args.get("recipient_user_id")
        self.messages[channel].append(message)
        return {"channel": channel, "ts": message.ts}

    def _m_chat_appendStream(self, ws: Workspace, args: dict) -> dict[str, Any]:
        message = self._streaming(str(args.get("channel")), str(args.get("ts")))
        text = self._stream_text(args)
        if not text:
            raise _ApiError("invalid_arguments", detail="nothing to append")
        if len(message.text) + len(text) > MARKDOWN_LIMIT:
            raise _ApiError("msg_too_long")
        message.text += text
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_stopStream(self, ws: Workspace, args: dict) -> dict[str, Any]:
        message = self._streaming(str(args.get("channel")), str(args.get("ts")))
        text = self._stream_text(args)
        if len(message.text) + len(text) > MARKDOWN_LIMIT:
            raise _ApiError("msg_too_long")
        blocks = self._check_blocks(args.get("blocks"), most=MESSAGE_BLOCKS)
        message.text += text
        message.blocks = blocks
        message.streaming = False
        return {
            "channel": message.channel,
            "ts": message.ts,
            "message": {"text": message.text, "ts": message.ts},
        }

    def _m_chat_postEphemeral(self, ws: Workspace, args: dict) -> dict[str, Any]:
        if not args.get("channel"):
            raise _ApiError("channel_not_found")
        if not args.get("user"):
            raise _ApiError("user_not_in_channel")
        blocks = self._check_blocks(args.get("blocks"), most=MESSAGE_BLOCKS)
        if not (args.get("text") or blocks):
            raise _ApiError("no_text")
        message = self._post(args)
        message.text, message.blocks = str(args.get("text") or ""), blocks
        message.recipient_user_id = str(args["user"])
        self.ephemerals.append(message)
        return {"message_ts": message.ts}

    def _m_assistant_threads_setStatus(self, ws: Workspace, args: dict) -> dict[str, Any]:
        if not args.get("channel_id") or not args.get("thread_ts") or "status" not in args:
            raise _ApiError("invalid_arguments")
        self.statuses.append(args)
        return {}

    def _m_assistant_threads_setSuggestedPrompts(self, ws: Workspace, args: dict) -> dict[str, Any]:
        prompts = args.get("prompts")
        if not args.get("channel_id") or not isinstance(prompts, list) or not prompts:
            raise _ApiError("invalid_arguments")
        if len(prompts) > 4:
            raise _ApiError("invalid_arguments", detail="no more than 4 prompts")
        for prompt in prompts:
            if not prompt.get("title") or not prompt.get("message"):
                raise _ApiError("invalid_arguments", detail="prompts need title and message")
        self.suggested_prompts.append(args)
        return {}

    def _m_assistant_threads_setTitle(self, ws: Workspace, args: dict) -> dict[str, Any]:
        if not args.get("channel_id") or not args.get("thread_ts") or not args.get("title"):
            raise _ApiError("invalid_arguments")
        self.titles.append(args)
        return {}

    def _view(self, args: dict) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict) or view.get("type") not in {"home", "modal"}:
            raise _ApiError("invalid_arguments")
        self._check_blocks(view.get("blocks"), most=VIEW_BLOCKS)
        if view.get("type") == "modal":
            problems = []
            for key in ("title", "submit", "close"):
                text = (view.get(key) or {}).get("text", "")
                if (key == "title" and not text) or len(text) > 24:
                    problems.append(f"{key} must be 1-24 characters [json-pointer:/view/{key}]")
            if len(view.get("private_metadata") or "") > 3000:
                problems.append("private_metadata over 3000 characters")
            if problems:
                raise _ApiError("invalid_arguments", errors=problems)
        return view

    def _m_views_publish(self, ws: Workspace, args: dict) -> dict[str, Any]:
        view = self._view(args)
        if not args.get("user_id"):
            raise _ApiError("invalid_arguments")
        self.home_views[str(args["user_id"])] = view
        return {"view": {"id": "VHOME", **view}}

    def _m_views_open(self, ws: Workspace, args: dict) -> dict[str, Any]:
        view = self._view(args)
        if not args.get("trigger_id"):
            raise _ApiError("invalid_trigger_id")
        self.opened_views.append(view)
        return {"view": {"id": f"V{len(self.opened_views)}", **view}}

    def _m_conversations_open(self, ws: Workspace, args: dict) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users:
            raise _ApiError("invalid_arguments")
        return {"channel": {"id": "D" + users.split(",")[0].lstrip("U")}}

    def _m_files_getUploadURLExternal(self, ws: Workspace, args: dict) -> dict[str, Any]:
        file_id = f"F{len(self.uploads) + 1:05d}"
        self.uploads.append(
            {
                "file_id": file_id,
                "filename": args.get("filename"),
                "length": int(args.get("length") or 0),
            }
        )
        return {"upload_url": f"{self._base_url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, ws: Workspace, args: dict) -> dict[str, Any]:
        files = args.get("files") or []
        for entry in files:
            for upload in self.uploads:
                if upload["file_id"] == entry.get("id"):
                    upload["channel_id"] = args.get("channel_id")
                    upload["title"] = entry.get("title")
        return {"files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}

    def _m_oauth_v2_access(self, ws: Workspace | None, args: dict) -> dict[str, Any]:
        grant = self.oauth_grants.pop(str(args.get("code")), None)
        if grant is None:
            raise _ApiError("invalid_code")
        # An install brings its bot token into the fake, so later calls with it work.
        team = (grant.get("team") or {}).get("id")
        enterprise = (grant.get("enterprise") or {}).get("id")
        self.add_workspace(
            team or enterprise or "E?",
            grant["access_token"],
            bot_user_id=grant.get("bot_user_id", "UBOT"),
            enterprise_id=enterprise,
        )
        return grant

    def _m_users_info(self, ws: Workspace, args: dict) -> dict[str, Any]:
        user = str(args.get("user"))
        email = self.user_emails.get(user, f"{user.lower()}@example.com")
        return {
            "user": {
                "id": user,
                "name": user.lower(),
                "tz": self.user_timezones.get(user, "UTC"),
                "is_email_confirmed": user not in self.unconfirmed,
                "profile": {"real_name": f"User {user}", "email": email},
                # Slack sends the locale only when asked for it.
                **(
                    {"locale": self.user_locales.get(user, "en-US")}
                    if str(args.get("include_locale")).lower() in ("true", "1")
                    else {}
                ),
            }
        }
