"""The Slack adapter, assembled: bolt's app, the paced Web API, and the answers in flight."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import aiohttp
import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from structlog.contextvars import bind_contextvars, get_contextvars

from bots.runtime import Runtime
from bots.slack import commands, escaping, events, feedback, home
from bots.slack.app import build_bolt_app, web_client
from bots.slack.calls import SlackCalls
from bots.slack.events import Question
from bots.slack.metrics import Delivery, SlackMetrics
from bots.slack.pacing import SlackPacer
from bots.slack.priority import AckFirst
from bots.slack.stream import SlackReplyStream, StreamPacing, describe_target
from bots.slack.tasks import BackgroundTasks
from bots.slack.threads import AnsweredThreads
from core.errors import InvalidQuestion, RateLimited
from core.events import ConversationKind
from core.observability import new_request_id
from core.worker import ClaimedEvent
from store.feedback import FeedbackStore
from store.history import PgHistoryStore
from store.prompts import PromptStore

log = structlog.get_logger(__name__)

SORRY = "Sorry — something went wrong while I was answering. Please try again in a moment."
# Shown when an attempt failed and the event goes back to the inbox to be answered again.
STILL_WORKING = (
    "This is taking longer than usual — I'm still on it, and the answer will appear here."
)
TITLE_CHARS = 60


class SlackBot:
    """Everything the Slack adapter needs, built from the runtime.

    ``take`` is where an event becomes work: it is recorded in the inbox (a duplicate
    delivery stops there), acknowledged by bolt as the listener returns, and answered by a
    background task held in ``tasks`` until it ends. ``redeliver`` / ``give_up`` are the
    inbox worker's way back in (core/worker.py): an event whose earlier attempt died is
    answered again in the messages that attempt left, or its user is told it failed.
    """

    def __init__(self, runtime: Runtime, *, drain_s: float = 20.0) -> None:
        settings = runtime.settings
        pool = runtime.db.pool
        self.runtime = runtime
        self.pacer = SlackPacer(window_s=settings.slack_pacing_window_s, redis=runtime.redis)
        self.metrics = SlackMetrics(runtime.metrics)
        self.client = web_client(settings, self.pacer, self.metrics)
        self.app: AsyncApp = build_bolt_app(settings, client=self.client, pool=pool)
        self.calls = SlackCalls(self.client, self.pacer, metrics=self.metrics)
        self.pacing = StreamPacing(
            streaming=settings.slack_streaming, append_interval_s=settings.slack_stream_interval_s
        )
        self.answer_bots = settings.slack_answer_bots
        self._answering = asyncio.Semaphore(settings.slack_max_answers)
        # A burst is acknowledged before the answers it starts compete for the loop and pool.
        self.acks = AckFirst()
        self.tasks = BackgroundTasks()
        self.threads = AnsweredThreads(pool)
        self.feedback = FeedbackStore(pool)
        self.history = PgHistoryStore(pool)
        self.prompts = PromptStore(pool, defaults=settings.default_prompts)
        self.timezones: dict[tuple[str, str], str] = {}
        self._drain_s = drain_s
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        events.register(self.app, self)
        feedback.register(self.app, self)
        home.register(self.app, self)
        commands.register(self.app, self)
        if self.app.installation_store is not None:
            # app_uninstalled / tokens_revoked delete the workspace's stored tokens.
            self.app.enable_token_revocation_listeners()

        @self.app.event(re.compile(".*"))
        async def everything_else() -> None:
            return  # acknowledged, so Slack does not retry events we do not use

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """One HTTP session for every Web API call; Socket Mode when an app token is set."""
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
        # bolt copies the session into the client it makes for each request.
        self.client.session = self._session
        app_token = self.runtime.settings.slack_app_token
        if app_token is not None:
            self._socket = AsyncSocketModeHandler(
                self.app, app_token.get_secret_value(), web_client=self.client
            )
            await self._socket.connect_async()
            log.info("slack_socket_mode_connected")

    async def aclose(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
        await self.tasks.drain(self._drain_s)
        if self._session is not None:
            await self._session.close()

    # -- questions -----------------------------------------------------------------------------

    async def take(self, question: Question, body: Mapping[str, Any]) -> None:
        """Record the event once and answer it after the ack. A delivery Slack retries (the
        first one may never have arrived) is answered unless its event is already recorded.
        If the inbox cannot record it, this raises and Slack is not acknowledged: it sends the
        event again later."""
        key = question.event_key
        if "request_id" not in get_contextvars():
            # Socket Mode: no HTTP request bound one; the event key follows it everywhere.
            new_request_id(key)
        if key is not None:
            bind_contextvars(event_key=key)
        claim: ClaimedEvent | None = None
        if key is not None:
            claim = await self.runtime.inbox.accept(key, events.PLATFORM, _payload(question, body))
            if claim is None:
                log.info("slack_duplicate_event", event_id=key)
                return
        self.tasks.spawn(self._answer(question, claim), name=f"slack:{key}")

    async def _answer(self, question: Question, claim: ClaimedEvent | None) -> None:
        # Acknowledged questions wait here, in order, when a burst exceeds what one replica
        # answers at once.
        await self.acks.settled()
        async with self._answering:
            try:
                await self._answer_now(question, claim)
            except Exception:
                log.exception("slack_answer_broke", event_id=question.event_key)
                if claim is not None:
                    self.runtime.inbox.abandon(claim)  # answered again when its lease runs out
                raise

    async def _answer_now(self, question: Question, claim: ClaimedEvent | None) -> None:
        target = question.target
        resume = claim.progress.get("ts") if claim is not None else None
        stream = SlackReplyStream(
            self.calls,
            target,
            self.pacing,
            resume=resume if isinstance(resume, list) else (),
            on_progress=self._recorder(claim),
        )
        thread = question.event.thread
        if thread.kind is ConversationKind.ASSISTANT and not await self.threads.answered(
            target.team_id, target.channel, target.thread_ts
        ):
            self.tasks.spawn(self._title(question), name="slack:title")
        event = question.event
        if claim is not None:
            # Which try at this event: a retry is not the person asking again (core/limits.py).
            event = replace(event, attempt=claim.attempt)
        error: str | None = None
        try:
            await self.runtime.assistant.handle(event, stream)
        except (InvalidQuestion, RateLimited):
            pass  # the user has been told why
        except Exception as exc:
            log.exception("slack_answer_failed", **describe_target(target))
            error = f"{type(exc).__name__}: {exc}"
        else:
            self.threads.remember(target.team_id, target.channel, target.thread_ts)
        if error is None and not stream.delivered:
            error = "not delivered to Slack"
        again = (
            error is not None
            and claim is not None
            and claim.attempt < self.runtime.inbox.max_attempts
        )
        if error is not None and not stream.closed:
            # Told plainly: either another attempt follows (and replaces this message), or not.
            await stream.fail(STILL_WORKING if again else SORRY)
        self.metrics.delivered(
            Delivery(
                first_text_in=stream.first_text_in,
                first_text_out=stream.first_text_out,
                messages=len(stream.message_ts),
                streamed=stream.streamed,
                delivered=stream.delivered,
            )
        )
        if claim is None:
            return
        if error is None:
            await self.runtime.inbox.done(claim)
        elif again:
            await self.runtime.inbox.retry(claim, error, progress={"ts": stream.shown_ts})
        else:
            await self.runtime.inbox.failed(claim, error)

    def _recorder(
        self, claim: ClaimedEvent | None
    ) -> Callable[[Mapping[str, object]], None] | None:
        """What the stream calls when it posts a message or the answer is stored: kept on the
        inbox row, off the answer's path, for an attempt that has to take over."""
        if claim is None:
            return None
        inbox = self.runtime.inbox
        last: list[asyncio.Task[Any]] = []

        async def write(data: dict[str, object], before: asyncio.Task[Any] | None) -> None:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)  # in order: newest wins
            await inbox.progress(claim, data)

        def record(data: Mapping[str, object]) -> None:
            before = last.pop() if last else None
            last.append(self.tasks.spawn(write(dict(data), before), name="slack:progress"))

        return record

    # -- the inbox worker's way back in (core.worker.Redelivery) -------------------------------

    async def redeliver(self, claim: ClaimedEvent) -> None:
        """Answer an event again whose earlier attempt died or gave it back."""
        question = await self._question_of(claim)
        if question is None:
            await self.runtime.inbox.failed(claim, "cannot rebuild the event (workspace gone)")
            return
        await self._answer(question, claim)

    async def give_up(self, claim: ClaimedEvent) -> None:
        """Tell the user, in the messages the attempts left (or a new one), that it failed."""
        question = await self._question_of(claim)
        if question is None:
            return
        resume = claim.progress.get("ts")
        stream = SlackReplyStream(
            self.calls,
            question.target,
            self.pacing,
            resume=resume if isinstance(resume, list) else (),
        )
        await stream.fail(SORRY)

    async def _question_of(self, claim: ClaimedEvent) -> Question | None:
        payload = claim.payload
        event = payload.get("event")
        team_id = str(payload.get("team_id") or "")
        if not isinstance(event, Mapping) or not team_id:
            return None
        token = await self._bot_token(
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

    async def _bot_token(self, team_id: str, enterprise_id: Any, org_install: bool) -> str | None:
        """The workspace's bot token, as bolt's authorization would find it."""
        store = self.app.installation_store
        if store is None:
            token = self.runtime.settings.slack_bot_token
            return token.get_secret_value() if token else None
        bot = await store.async_find_bot(
            enterprise_id=enterprise_id or None,
            team_id=None if org_install else team_id,
            is_enterprise_install=org_install,
        )
        return bot.bot_token if bot is not None else None

    async def _title(self, question: Question) -> None:
        """Name a new agent-pane thread after its first question."""
        target = question.target
        text = " ".join(question.event.text.split())
        if not text:
            return
        title = text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"
        if (
            await self.calls.reserve(target.team_id, "assistant.threads.setTitle", max_wait=0)
            is None
        ):
            return
        await self.calls.try_api(
            target.team_id,
            "assistant.threads.setTitle",
            token=target.token,
            reserved=True,
            channel_id=target.channel,
            thread_ts=target.thread_ts,
            title=escaping.markdown(title),  # plain text, but never a ping
        )


def _payload(question: Question, body: Mapping[str, Any]) -> dict[str, Any]:
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
