"""``POST /api/messages`` on the one aiohttp server: botbuilder's CloudAdapter and the bot.

The route does what botbuilder-integration-aiohttp's ``CloudAdapter.process`` does (read the
activity, authenticate, run the turn, answer with the invoke response) with two differences
Teams needs: an invoke answered "200, no body" really has no body (``process`` writes
``null``), and a refused token is a plain 401 with the reason in our log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from msrest.exceptions import DeserializationError

from bots.handoff import handoff_desk
from bots.runtime import Runtime
from bots.tasks import BackgroundTasks
from bots.teams.answers import StreamPace
from bots.teams.auth import BotConnectorAuthentication, ConnectorTokenValidator, OpenIdKeys
from bots.teams.bot import PLATFORM, TeamsBot, TeamsServices, is_personal_command
from bots.teams.connector import SessionSender, TeamsConnectorFactory
from bots.teams.credentials import BearerTokenPolicy, BotToken, NoCredentials, token_source
from bots.teams.handoff import TeamsHandoff, TeamsHelpChannel
from bots.teams.identity import TeamsIdentities
from bots.teams.payloads import MalformedActivity, check_activity
from bots.teams.proactive import TeamsNotifier
from bots.teams.references import TeamsConversations
from bots.teams.settings import TeamsSettings
from core.lifecycle import AnswerAgain
from core.text import storable
from core.worker import ClaimedEvent
from store.teams import PgTeamsStore

log = structlog.get_logger(__name__)

ROUTE = "/api/messages"
_DRAIN_S = 30.0


class TeamsApp:
    """The Teams endpoint and what it owns: an HTTP session for the Bot Connector and the
    answers still being written after their requests were acknowledged.

    It is Teams' door in the core's lifecycle (``core.lifecycle.PlatformDoor``): ``again``
    answers an activity whose earlier attempt died in its conversation again (botbuilder's
    ``continue_conversation``), ``tell`` shows its user that it failed.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = TeamsSettings.of(runtime.settings)
        self._session: aiohttp.ClientSession | None = None
        self._adapter: CloudAdapter | None = None
        self._bot: TeamsBot | None = None
        self.tasks = BackgroundTasks()
        self.auth: BotConnectorAuthentication | None = None
        self.notifier: TeamsNotifier | None = None
        self.handoff: TeamsHandoff | None = None
        self.store = PgTeamsStore(runtime.db.pool)
        runtime.lifecycle.register(PLATFORM, self)

    async def start(self, app: web.Application) -> None:
        settings = self.settings
        source = token_source(
            self.runtime.settings
        )  # raises ConfigurationError on a half-done setup
        self._session = aiohttp.ClientSession()
        credentials = BearerTokenPolicy(BotToken(source)) if source is not None else NoCredentials()
        connectors = TeamsConnectorFactory(
            SessionSender(self._session, metrics=self.runtime.metrics), credentials
        )
        validator = None
        if settings.microsoft_app_id:
            keys = OpenIdKeys(settings.teams_openid_metadata_url, self._session)
            validator = ConnectorTokenValidator(
                keys, app_id=settings.microsoft_app_id, issuer=settings.teams_token_issuer
            )
        else:
            log.warning(
                "teams_anonymous_mode",
                detail="MICROSOFT_APP_ID is not set: /api/messages accepts requests WITHOUT "
                "authentication and replies unsigned. Use this only on your own machine "
                "(Microsoft 365 Agents Playground); set MICROSOFT_APP_ID, "
                "MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID for Teams.",
            )
        self.auth = BotConnectorAuthentication(
            validator=validator, connectors=connectors, app_id=settings.microsoft_app_id
        )
        self._adapter = CloudAdapter(self.auth)
        self.runtime.people.register(PLATFORM, TeamsIdentities(connectors))
        conversations = TeamsConversations(self.store)
        self.notifier = TeamsNotifier(
            self._adapter, conversations, app_id=settings.microsoft_app_id
        )
        channel = settings.teams_handoff_channel
        self.handoff = TeamsHandoff(
            handoff_desk(self.runtime, lambda work: self.spawn(work, "teams:handoff-webhook")),
            TeamsHelpChannel(self.notifier, channel) if channel else None,
        )
        self._bot = TeamsBot(
            self.runtime.lifecycle,
            services=TeamsServices(
                users=self.runtime.conversations,
                feedback=self.runtime.services.feedback,
                prompts=self.runtime.services.prompts,
                commands=self.runtime.commands,
            ),
            conversations=conversations,
            pace=StreamPace(
                stream_interval_s=settings.teams_stream_interval,
                edit_interval_s=settings.teams_edit_interval,
                stream_max_s=settings.teams_stream_max_seconds,
                max_chars=settings.teams_message_max_chars,
            ),
            spawn=self.spawn,
            handoff=self.handoff,
        )

    async def stop(self, app: web.Application) -> None:
        """Let answers in progress finish (up to 30 s), then close the session."""
        await self.tasks.drain(_DRAIN_S)
        if self.handoff is not None:
            await self.handoff.desk.aclose()
        if self._session is not None:
            await self._session.close()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``work`` after the request that asked for it has been answered."""
        return self.tasks.spawn(work, name=name)

    async def idle(self) -> None:
        """Wait until no answer is being written (for tests and benchmarks)."""
        await self.tasks.idle()

    async def again(self, claim: ClaimedEvent, answer: AnswerAgain) -> bool:
        activity = self._activity_of(claim)
        if activity is None:
            # A welcome (or a row from before activities were kept): not worth repeating.
            await self.runtime.lifecycle.once(claim, _nothing)
            return True
        bot = self._bot
        assert bot is not None, "the Teams app has not started"

        async def in_conversation(context: TurnContext) -> None:
            if is_personal_command(activity):
                await bot.run_command(context, activity, claim)
            else:
                await answer(bot.question(context, activity, again=True))

        await self._continue(activity, in_conversation)
        return True

    async def tell(self, claim: ClaimedEvent, text: str) -> None:
        activity = self._activity_of(claim)
        bot = self._bot
        if activity is None or bot is None:
            return

        async def in_conversation(context: TurnContext) -> None:
            await bot.tell(context, claim, text)

        await self._continue(activity, in_conversation)

    async def _continue(self, activity: Activity, callback: Any) -> None:
        reference = TurnContext.get_conversation_reference(activity)
        reference.activity_id = None  # a new message in the conversation (thread), not a reply
        await self.adapter.continue_conversation(
            reference, callback, self.settings.microsoft_app_id or ""
        )

    @staticmethod
    def _activity_of(claim: ClaimedEvent) -> Activity | None:
        raw = claim.payload.get("activity")
        if not isinstance(raw, dict):
            return None
        try:
            return Activity().deserialize(raw)
        except (DeserializationError, ValueError, TypeError):
            return None

    @property
    def adapter(self) -> CloudAdapter:
        assert self._adapter is not None, "the Teams app has not started"
        return self._adapter

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            # Without the characters Postgres cannot store (NUL, lone surrogates).
            body = storable(await request.json())
        except ValueError:
            return web.json_response({"error": "invalid JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "expected an activity"}, status=400)
        try:
            activity = Activity().deserialize(body)
        except (DeserializationError, ValueError, TypeError):
            return web.json_response({"error": "not an activity"}, status=400)
        if not activity.type:
            return web.json_response({"error": "the activity has no type"}, status=400)
        try:
            check_activity(activity)
        except MalformedActivity as exc:
            return web.json_response({"error": str(exc)}, status=400)
        assert self._bot is not None, "the Teams app has not started"
        try:
            response = await self.adapter.process_activity(
                request.headers.get("Authorization", ""), activity, self._bot.on_turn
            )
        except PermissionError as exc:
            log.warning("teams_unauthorized", reason=str(exc), activity_type=activity.type)
            return web.json_response({"error": "unauthorized"}, status=401)
        if response is None:
            return web.Response(status=200)
        if response.body is None:
            return web.Response(status=response.status)
        return web.json_response(response.body, status=response.status)


async def _nothing() -> None:
    return


TEAMS = web.AppKey("teams", TeamsApp)


def mount_teams(app: web.Application, runtime: Runtime) -> TeamsApp:
    """Add ``POST /api/messages`` to ``app``; the adapter starts and stops with the app."""
    teams = TeamsApp(runtime)
    app[TEAMS] = teams
    app.on_startup.append(teams.start)
    app.on_cleanup.append(teams.stop)
    app.router.add_post(ROUTE, teams.handle)
    return teams
