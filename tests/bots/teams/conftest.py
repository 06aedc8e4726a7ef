"""The Teams bot as Teams meets it: the real server over HTTP, Bot Connector tokens signed with
test keys, a fake Bot Connector as the activities' serviceUrl and a fake Entra ID for the
bot's own token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from bots.runtime import Runtime
from bots.server import build_app
from bots.settings import AppSettings as Settings
from bots.teams import TEAMS, TeamsApp
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.support.fake_connector import FakeConnector
from tests.support.fake_openai import FakeOpenAI, serve_fake
from tests.support.fake_openid import (
    FakeBotFrameworkOpenId,
    FakeEntra,
    self_signed_certificate,
    server_tls,
)

APP_ID = "00000000-1111-2222-3333-444444444444"
TENANT = "tenant-1"
# Fast enough for tests; the fake enforces the same rules at this pace.
INTERVAL = 0.2


@pytest.fixture(scope="session")
def openid_keys() -> FakeBotFrameworkOpenId:
    return FakeBotFrameworkOpenId()  # RSA keys take a moment: made once


async def _serve(app: web.Application, **kwargs: Any) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(**kwargs)
    return server


@pytest.fixture
async def openid(openid_keys: FakeBotFrameworkOpenId) -> AsyncIterator[FakeBotFrameworkOpenId]:
    openid_keys.metadata_requests = 0
    server = await _serve(openid_keys.app())
    openid_keys.base_url = str(server.make_url("")).rstrip("/")
    yield openid_keys
    await server.close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def entra(
    tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeEntra]:
    cert, key = tls_files
    fake = FakeEntra()
    server = await _serve(fake.app(), ssl=server_tls(cert, key))
    fake.base_url = f"https://127.0.0.1:{server.port}"
    # msal's requests session trusts the fake's self-signed certificate.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    yield fake
    await server.close()


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector(min_interval_s=INTERVAL * 0.9)
    server = await _serve(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
def teams_settings() -> dict[str, Any]:
    """Overrides a test may change before the runtime starts."""
    return {}


@pytest.fixture
def settings(
    database_url: str,
    tmp_path: Path,
    openid: FakeBotFrameworkOpenId,
    entra: FakeEntra,
    teams_settings: dict[str, Any],
) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "sample_knowledge": None,
        "port": 0,
        "microsoft_app_id": APP_ID,
        "microsoft_app_password": "test-secret",
        "microsoft_app_tenant_id": TENANT,
        "entra_authority_host": entra.base_url,
        "teams_openid_metadata_url": openid.metadata_url,
        "teams_stream_interval": INTERVAL,
        "teams_edit_interval": INTERVAL,
    }
    values.update(teams_settings)
    return Settings(_env_file=None, **values)


@dataclass
class BotServer:
    """The running server and a way to post activities to it as Teams does."""

    url: str
    session: aiohttp.ClientSession
    teams: TeamsApp
    runtime: Runtime
    connector: FakeConnector
    openid: FakeBotFrameworkOpenId

    def token(self, **overrides: Any) -> str:
        claims = {"audience": APP_ID, "service_url": self.connector.base_url, **overrides}
        return self.openid.mint(**claims)

    async def post(
        self, activity: dict[str, Any], *, token: str | None = None, signed: bool = True
    ) -> tuple[int, bytes]:
        headers = {}
        if signed:
            headers["Authorization"] = f"Bearer {token or self.token()}"
        async with self.session.post(self.url, json=activity, headers=headers) as response:
            return response.status, await response.read()

    async def settle(self) -> None:
        """Wait until every answer started so far has been delivered."""
        await self.teams.idle()


BotFactory = Callable[..., Awaitable[BotServer]]


@pytest.fixture
async def make_bot(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
) -> AsyncIterator[BotFactory]:
    """Start the server on a runtime with the sample knowledge base and these settings."""
    started: list[tuple[Runtime, BotServer, TestServer]] = []

    async def start(**overrides: Any) -> BotServer:
        runtime = await Runtime.start(settings.model_copy(update=overrides))
        report = await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        assert not report.failed, report.failed
        app = build_app(runtime)
        server = await _serve(app)
        bot = BotServer(
            url=str(server.make_url("/api/messages")),
            session=aiohttp.ClientSession(),
            teams=app[TEAMS],
            runtime=runtime,
            connector=connector,
            openid=openid,
        )
        started.append((runtime, bot, server))
        return bot

    yield start
    for runtime, bot, server in reversed(started):
        await bot.session.close()
        await server.close()
        await runtime.aclose()


@pytest.fixture
async def bot(make_bot: BotFactory) -> BotServer:
    return await make_bot()


@pytest.fixture
async def model() -> AsyncIterator[tuple[FakeOpenAI, dict[str, Any]]]:
    """A fake OpenAI-compatible model that writes a few words at a time, and the settings
    that point the runtime at it."""
    fake = FakeOpenAI()
    fake.behaviour.token_interval_s = 0.04
    async with serve_fake(fake) as url:
        yield (
            fake,
            {
                "openai_base_url": url,
                "openai_api_key": SecretStr("test-key"),
                "chat_model": "fake-chat",
            },
        )
