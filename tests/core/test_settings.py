"""Settings as an operator meets them: clear errors at start, secrets that never show."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import structlog
from pydantic import SecretStr, ValidationError

from bots.settings import AppSettings as Settings
from core.observability import configure_logging
from core.settings import explain

SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY)$|^(DATABASE_URL|REDIS_URL)$")
TOKEN = "xoxb-1111-2222-never-print-me"


def problems(**given: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **given)
    return explain(caught.value)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"slack_bot_token": TOKEN}, "SLACK_SIGNING_SECRET is missing"),
        ({"slack_signing_secret": "s"}, "set SLACK_BOT_TOKEN (one workspace)"),
        ({"slack_app_token": "xapp-1"}, "set SLACK_BOT_TOKEN (one workspace)"),
        (
            {"slack_client_id": "1.2", "slack_signing_secret": "s"},
            "SLACK_CLIENT_SECRET is missing",
        ),
        (
            {"slack_client_id": "1.2", "slack_client_secret": "c"},
            "SLACK_SIGNING_SECRET is missing",
        ),
        ({"microsoft_app_id": "app"}, "MICROSOFT_APP_PASSWORD is missing"),
        (
            {"microsoft_app_id": "app", "microsoft_app_password": "pw"},
            "MICROSOFT_APP_TENANT_ID is missing",
        ),
        ({"microsoft_app_password": "pw"}, "MICROSOFT_APP_ID is missing"),
        ({"microsoft_app_tenant_id": "tenant"}, "MICROSOFT_APP_ID is missing"),
        ({"chat_model": "gpt-4o-mini"}, "SWITCHBOARD_CHAT_MODEL is set but there is no model"),
        ({"embedding_model": "e"}, "SWITCHBOARD_EMBEDDING_MODEL is set but there is no model"),
        (
            {"openai_base_url": "https://gateway.example/v1?subscription-key=k3y", "chat_model": "m"},
            "OPENAI_BASE_URL has a query string",
        ),
        ({"openai_base_url": "http://127.0.0.1:8000/v1#", "chat_model": "m"}, "or fragment (#…)"),
        ({"db_pool_min": 30, "db_pool_max": 5}, "SWITCHBOARD_DB_POOL_MIN is larger"),
        ({"chunk_size": 300, "chunk_overlap": 300}, "SWITCHBOARD_CHUNK_OVERLAP must be smaller"),
        ({"readiness_requires": "database,disk"}, "SWITCHBOARD_READINESS_REQUIRES: unknown check"),
        ({"port": "http"}, "PORT: Input should be a valid integer"),
    ],
)
def test_an_incomplete_combination_is_refused_naming_what_is_missing(
    given: dict[str, Any], named: str
):
    message = problems(**given)
    assert named in message
    for value in given.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in message  # values are never echoed


def test_every_problem_is_named_at_once():
    message = problems(slack_bot_token=TOKEN, microsoft_app_id="app", chat_model="m")
    lines = message.splitlines()
    assert len(lines) == 4  # Slack, Teams password, Teams tenant, model endpoint
    assert all(line.startswith("  - ") for line in lines)


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"slack_bot_token": TOKEN, "slack_signing_secret": "s"},
        {"slack_bot_token": TOKEN, "slack_app_token": "xapp-1"},  # Socket Mode
        {"slack_client_id": "1.2", "slack_client_secret": "c", "slack_signing_secret": "s"},
        {"microsoft_app_id": "app", "microsoft_app_password": "pw", "microsoft_app_tenant_id": "t"},
        {"microsoft_app_id": "app", "microsoft_app_type": "UserAssignedMSI"},
        {
            "microsoft_app_id": "app",
            "microsoft_app_password": "pw",
            "microsoft_app_type": "MultiTenant",
        },
        {"openai_base_url": "http://127.0.0.1:8000/v1", "chat_model": "llama"},
        {"openai_api_key": "sk-1", "embedding_model": "text-embedding-3-small"},
    ],
)
def test_complete_combinations_start(given: dict[str, Any]):
    Settings(_env_file=None, **given)


def test_an_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch):
    """`cp .env.example .env` leaves `FOO=` lines: none of them may switch anything on."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    monkeypatch.setenv("MICROSOFT_APP_ID", "")
    monkeypatch.setenv("SWITCHBOARD_SAMPLE_KNOWLEDGE", "")
    monkeypatch.setenv("DATABASE_URL", "")
    settings = Settings(_env_file=None)
    assert settings.slack_bot_token is None and not settings.slack_configured
    assert settings.microsoft_app_id is None and not settings.teams_configured
    assert settings.sample_knowledge is None  # not Path("."), which would ingest the cwd
    assert settings.database_url is None


def test_every_secret_setting_is_a_secret_str():
    """A new token or password added as a plain str would end up in logs and reprs."""
    secret_fields = {
        name: field
        for name, field in Settings.model_fields.items()
        if SECRET_NAME.search(field.alias or "")
    }
    assert {"DATABASE_URL", "SLACK_BOT_TOKEN", "MICROSOFT_APP_PASSWORD"} <= {
        f.alias for f in secret_fields.values()
    }
    plain = [f.alias for f in secret_fields.values() if SecretStr not in get_args(f.annotation)]
    assert plain == []


def test_secrets_never_show_in_reprs_dumps_or_logs():
    settings = Settings(
        _env_file=None,
        slack_bot_token=TOKEN,
        slack_signing_secret="signing-never-print-me",
        database_url="postgresql://sb:pg-never-print-me@db/sb",
        openai_api_key="sk-never-print-me",
        openai_base_url="http://127.0.0.1:9/v1",
    )
    buffer = io.StringIO()
    configure_logging(level="INFO", json=True, stream=buffer)
    try:
        structlog.get_logger("test.settings").info("started", settings=settings)
        logging.getLogger("test.settings").warning("settings %s", settings)
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    shown = "\n".join(
        [repr(settings), str(settings), settings.model_dump_json(), buffer.getvalue()]
    )
    assert "started" in buffer.getvalue()
    assert "never-print-me" not in shown


def test_the_cli_refuses_to_start_and_names_what_is_missing(tmp_path: Path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SWITCHBOARD_", "SLACK_", "MICROSOFT_", "OPENAI_", "DATABASE_"))
    }
    env |= {"SLACK_BOT_TOKEN": TOKEN, "MICROSOFT_APP_ID": "0000-app"}
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "migrate"],
        env=env,
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "SLACK_SIGNING_SECRET is missing" in done.stderr
    assert "MICROSOFT_APP_PASSWORD is missing" in done.stderr
    assert TOKEN not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_settings_read_from_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for key in list(os.environ):
        if key.startswith(("SWITCHBOARD_", "SLACK_")):
            monkeypatch.delenv(key)
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "SLACK_BOT_TOKEN=\nSWITCHBOARD_ADMINS=ana@example.com, bo@example.com\n"
        "SWITCHBOARD_READINESS_REQUIRES=database,redis\n",
        encoding="utf-8",
    )
    settings = Settings(_env_file=dotenv)
    assert settings.slack_bot_token is None
    assert settings.admins == ("ana@example.com", "bo@example.com")
    assert settings.readiness_requires == ("database", "redis")
    assert json.loads(settings.model_dump_json())["readiness_requires"] == ["database", "redis"]
