"""The Slack adapter, assembled: bolt's app, the paced Web API, and the answers in flight."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bots.handoff import handoff_desk
from bots.runtime import Runtime
from bots.slack import commands, events, feedback, handoff, home
from bots.slack.answers import SlackAnswering, inbox_payload
from bots.slack.app import build_bolt_app, web_client
from bots.slack.calls import SlackCalls
from bots.slack.events import Question
from bots.slack.identity import SlackIdentities
from bots.slack.metrics import SlackMetrics
from bots.slack.pacing import SlackPacer
from bots.slack.settings import SlackSettings
from bots.slack.target import StreamPacing
from bots.slack.threads import AnsweredThreads
from bots.slack.timezones import Timezones
from bots.tasks import BackgroundTasks
from store.slack import PgSlackStore

log = structlog.get_logger(__name__)


class SlackBot:
    """Everything the Slack adapter needs, built from the runtime.

    ``take`` is where a translated event meets the core's lifecycle (``core.lifecycle``):
    recorded in the inbox (a duplicate delivery stops there), acknowledged by bolt as the
    listener returns, and answered by a background task held in ``tasks`` until it ends.
    Each listener module gets only what it uses.
    """

    def __init__(self, runtime: Runtime, *, drain_s: float = 20.0) -> None:
        settings = SlackSettings.of(runtime.settings)
        self.settings = settings
        self.runtime = runtime
        self.pacer = SlackPacer(window_s=settings.slack_pacing_window_s, redis=runtime.redis)
        self.metrics = SlackMetrics(runtime.metrics)
        self.client = web_client(settings, self.pacer, self.metrics)
        self.store = PgSlackStore(runtime.db.pool)
        self.app: AsyncApp = build_bolt_app(settings, client=self.client, store=self.store)
        self.calls = SlackCalls(self.client, self.pacer, metrics=self.metrics)
        self.tasks = BackgroundTasks()
        self.threads = AnsweredThreads(self.store)
        pacing = StreamPacing(
            streaming=settings.slack_streaming, append_interval_s=settings.slack_stream_interval_s
        )
        token = settings.slack_bot_token
        self.answering = SlackAnswering(
            self.calls, pacing, self.threads, self.tasks, self.metrics, self.app.installation_store
        )
        self.answering.bot_token = token.get_secret_value() if token else None
        self.handoffs = handoff_desk(
            runtime, lambda work: self.tasks.spawn(work, name="slack:handoff-webhook")
        )
        # "Talk to a person" shows only when a help channel or the webhook can take it.
        self.answering.handoff = self.handoffs.offered(
            has_channel=bool(settings.slack_handoff_channel)
        )
        runtime.lifecycle.register(events.PLATFORM, self.answering)
        runtime.people.register(
            events.PLATFORM,
            SlackIdentities(
                self.calls,
                installs=self.app.installation_store,
                bot_token=token.get_secret_value() if token else None,
            ),
        )
        timezones = Timezones(self.calls)
        self._drain_s = drain_s
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        events.register(
            self.app,
            events.QuestionContext(
                answer_bots=settings.slack_answer_bots, threads=self.threads, take=self.take
            ),
        )
        feedback.register(
            self.app,
            feedback.FeedbackContext(
                users=runtime.conversations, feedback=runtime.services.feedback, calls=self.calls
            ),
        )
        handoff.register(
            self.app,
            handoff.HandoffContext(
                desk=self.handoffs,
                users=runtime.conversations,
                calls=self.calls,
                tasks=self.tasks,
                channel=settings.slack_handoff_channel,
            ),
        )
        home.register(
            self.app,
            home.HomeContext(
                calls=self.calls,
                tasks=self.tasks,
                users=runtime.conversations,
                history=runtime.services.history,
                prompts=runtime.services.prompts,
                timezones=timezones,
            ),
        )
        commands.register(
            self.app,
            commands.CommandContext(
                calls=self.calls, tasks=self.tasks, commands=runtime.commands, timezones=timezones
            ),
        )
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
        app_token = self.settings.slack_app_token
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
        await self.handoffs.aclose()
        if self._session is not None:
            await self._session.close()

    # -- questions -----------------------------------------------------------------------------

    async def take(self, question: Question, body: Mapping[str, Any]) -> None:
        """Hand a translated event to the core's lifecycle: recorded once, answered after the
        ack. A delivery Slack retries (the first one may never have arrived) is answered unless
        its event is already recorded. If the inbox cannot record it, this raises and Slack is
        not acknowledged: it sends the event again later."""
        await self.runtime.lifecycle.take(
            self.answering.question(question), inbox_payload(question, body)
        )
