"""Slack's routes on the one aiohttp server: ``/slack/events``, ``/slack/install``,
``/slack/oauth_redirect``. A translation to and from bolt's request and response, nothing more."""

from __future__ import annotations

import asyncio

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.request.async_request import AsyncBoltRequest

from bots.runtime import Runtime
from bots.slack import payloads
from bots.slack.bot import SlackBot
from bots.slack.settings import SlackSettings
from core.text import storable
from store.arrivals import MAX_BATCH

SLACK = web.AppKey("slack", SlackBot)
# Deliveries worked on at once; the rest wait their turn, in order of arrival. One event loop
# shares itself evenly among the deliveries it works on, so 2,000 taken all at once finish all
# together, at the end of the burst, and all late when the burst needs more than Slack's 3 s.
# Taken in turns, the first are acknowledged at once and only the last can be late. As many
# as one inbox batch holds, so the batches stay full.
ACKING_AT_ONCE = MAX_BATCH


def mount_slack(app: web.Application, runtime: Runtime) -> SlackBot:
    """Add the Slack routes to ``app`` and tie the adapter's life to the server's."""
    bot = SlackBot(runtime)
    app[SLACK] = bot
    turns = asyncio.Semaphore(ACKING_AT_ONCE)

    async def events(request: web.Request) -> web.Response:
        with runtime.lifecycle.acks.acknowledging():
            async with turns:
                return await acknowledge(request)

    async def acknowledge(request: web.Request) -> web.Response:
        # A body over SWITCHBOARD_MAX_BODY_BYTES gets 413 from aiohttp as it is read; one Slack
        # would never send gets 400 here (bolt would raise on it: a 500, which Slack retries).
        try:
            body = (await request.read()).decode("utf-8")
            payloads.parse(body, request.content_type)
        except (UnicodeDecodeError, payloads.MalformedPayload) as exc:
            reason = str(exc) if isinstance(exc, payloads.MalformedPayload) else "not UTF-8"
            return web.json_response({"error": reason}, status=400)
        # bolt verifies the signature (401 when it is forged or stale) and answers
        # url_verification; the listeners ack within milliseconds and work afterwards.
        bolt_request = AsyncBoltRequest(
            body=body, query=request.query_string, headers=request.headers
        )
        # The signature covers the raw body, which stays as it came; what the listeners read
        # loses the characters Postgres cannot store (NUL, lone surrogates).
        bolt_request.body = storable(bolt_request.body)  # type: ignore[assignment]
        response = await bot.app.async_dispatch(bolt_request)
        if response.status == 404:
            # Signed, but of a kind nothing here listens for (a new event or callback type):
            # acknowledged and ignored, so Slack does not deliver it again.
            return web.Response(status=200)
        return await to_aiohttp_response(response)

    if SlackSettings.of(runtime.settings).slack_signing_secret is not None:
        app.router.add_post("/slack/events", events)
    flow = bot.app.oauth_flow
    if flow is not None:

        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await flow.handle_installation(await to_bolt_request(request))
            )

        async def redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await flow.handle_callback(await to_bolt_request(request))
            )

        app.router.add_get(flow.install_path, install)
        app.router.add_get(flow.redirect_uri_path, redirect)

    async def start(_: web.Application) -> None:
        await bot.start()

    async def stop(_: web.Application) -> None:
        await bot.aclose()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return bot


def describe_slack(settings: SlackSettings, base: str) -> str:
    """The start-up banner's Slack line: where events arrive, and how installs work."""
    ways = []
    if settings.slack_signing_secret is not None:
        ways.append(f"{base}/slack/events")
    if settings.slack_app_token is not None:
        ways.append("Socket Mode")
    if settings.slack_client_id:
        ways.append(f"installs at {base}/slack/install")
    return ", ".join(ways)
