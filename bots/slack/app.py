"""bolt's ``AsyncApp`` built from Slack's settings: one workspace by token, or many through OAuth."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.calls import PacedRateLimitRetryHandler
from bots.slack.installation_store import PgInstallationStore, PgOAuthStateStore
from bots.slack.metrics import SlackMetrics
from bots.slack.pacing import SlackPacer
from bots.slack.settings import SlackSettings
from store.slack import PgSlackStore

# What the app asks for when installed; the same list as manifest/slack.yaml.
BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "chat:write",
    "commands",
    "files:write",
    "groups:history",
    "im:history",
    "im:write",
    "mpim:history",
    "users:read",
    "users:read.email",
)
OAUTH_STATE_TTL_S = 600


def sdk_logger() -> logging.Logger:
    """The logger slack_sdk and bolt write to. Never below INFO: at DEBUG the SDK logs response
    bodies, and an OAuth exchange's body holds the workspace's tokens."""
    logger = logging.getLogger("switchboard.slack")
    if logger.level == logging.NOTSET or logger.level < logging.INFO:
        logger.setLevel(logging.INFO)
    return logger


def web_client(
    settings: SlackSettings, pacer: SlackPacer, metrics: SlackMetrics | None = None
) -> AsyncWebClient:
    """The Web API client, at ``SLACK_API_URL``, honouring 429s and pacing the workspace."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=None if settings.slack_client_id else token,
        base_url=settings.slack_api_url,
        timeout=30,
        logger=sdk_logger(),
        # 429s wait Retry-After (and close the workspace's budget); 500/503 and dropped
        # connections are tried again after a short backoff.
        retry_handlers=[
            PacedRateLimitRetryHandler(pacer, metrics=metrics),
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


def oauth_settings(settings: SlackSettings, store: PgSlackStore) -> AsyncOAuthSettings | None:
    """The install flow (``/slack/install`` → Slack → ``/slack/oauth_redirect``) when the app
    has a client id and secret; None for a single workspace."""
    if not (settings.slack_client_id and settings.slack_client_secret):
        return None
    scopes = (
        [s.strip() for s in settings.slack_scopes.split(",") if s.strip()]
        if settings.slack_scopes
        else list(BOT_SCOPES)
    )
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=scopes,
        redirect_uri=settings.slack_redirect_uri,
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
        installation_store=PgInstallationStore(store, client_id=settings.slack_client_id),
        installation_store_bot_only=True,
        state_store=PgOAuthStateStore(store, expiration_seconds=OAUTH_STATE_TTL_S),
        state_expiration_seconds=OAUTH_STATE_TTL_S,
        logger=sdk_logger(),
    )


def build_bolt_app(
    settings: SlackSettings, *, client: AsyncWebClient, store: PgSlackStore
) -> AsyncApp:
    """bolt's app. ``process_before_response``: each listener only translates, records the event
    in the inbox and hands the work to a background task, so the ack follows within
    milliseconds and no event is acknowledged before it is safely recorded."""
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    oauth = oauth_settings(settings, store)
    return AsyncApp(
        name="switchboard",
        logger=sdk_logger(),
        signing_secret=signing_secret,
        client=client,
        oauth_settings=oauth,
        installation_store_bot_only=True if oauth else None,
        process_before_response=True,
        ignoring_self_events_enabled=True,  # never answer our own messages
    )
