"""The connectors' settings moved beside the connectors: the names operators already set in
their environment still configure the same sources, on the core's settings and the app's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.settings import AppSettings
from core.ingest.connectors.confluence import ConfluenceSpace
from core.ingest.connectors.sharepoint import SharePointLibrary
from core.ingest.sources import configured_sources, sources_for
from core.settings import Settings

ALREADY_SET = {
    "SHAREPOINT_TENANT_ID": "tenant-1",
    "SHAREPOINT_CLIENT_ID": "client-1",
    "SHAREPOINT_CLIENT_SECRET": "secret-never-print-me",
    "SHAREPOINT_SITE": "contoso.sharepoint.com:/sites/HR",
    "SHAREPOINT_DRIVE": "Policies",
    "SHAREPOINT_FOLDER": "/Handbook",
    "SHAREPOINT_DOMAIN": "hr",
    "GRAPH_URL": "http://127.0.0.1:9/v1.0",
    "ENTRA_AUTHORITY_HOST": "http://127.0.0.1:9",
    "CONFLUENCE_URL": "https://example.atlassian.net/wiki",
    "CONFLUENCE_TOKEN": "token-never-print-me",
    "CONFLUENCE_EMAIL": "bot@example.com",
    "CONFLUENCE_SPACES": "HR, IT",
    "CONFLUENCE_DOMAIN": "it",
    "SWITCHBOARD_WEB_TIMEOUT": "7.5",
    "SWITCHBOARD_INGEST_ALLOWED_HOSTS": "intranet.example.com, 10.0.0.0/8",
}


@pytest.mark.parametrize("settings_class", [Settings, AppSettings])
async def test_environment_names_already_set_keep_working(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[Settings]
):
    for name, value in ALREADY_SET.items():
        monkeypatch.setenv(name, value)
    settings = settings_class(_env_file=None)
    assert settings.sharepoint_site == "contoso.sharepoint.com:/sites/HR"
    assert settings.sharepoint_drive == "Policies" and settings.sharepoint_folder == "/Handbook"
    assert settings.sharepoint_client_secret is not None
    assert settings.sharepoint_client_secret.get_secret_value() == "secret-never-print-me"
    assert settings.graph_url == "http://127.0.0.1:9/v1.0"
    assert settings.entra_authority_host == "http://127.0.0.1:9"
    assert settings.confluence_spaces == ("HR", "IT")
    assert settings.confluence_email == "bot@example.com"
    assert settings.web_timeout == 7.5
    assert settings.ingest_allowed_hosts == ("intranet.example.com", "10.0.0.0/8")
    # What an operator notices: the scheduled re-ingest finds the same sources as before.
    found = configured_sources(settings)
    try:
        assert [type(source) for source in found] == [
            SharePointLibrary, ConfluenceSpace, ConfluenceSpace,
        ]
    finally:
        for source in found:
            await source.aclose()


def test_an_empty_connector_variable_is_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHAREPOINT_SITE", "")
    monkeypatch.setenv("CONFLUENCE_URL", "")
    monkeypatch.setenv("CONFLUENCE_SPACES", "")
    settings = AppSettings(_env_file=None)
    assert settings.sharepoint_site is None and settings.confluence_url is None
    assert configured_sources(settings) == []


def test_a_missing_connector_setting_is_named(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHAREPOINT_SITE", "contoso.sharepoint.com:/sites/HR")
    with pytest.raises(Exception, match="SHAREPOINT_TENANT_ID"):
        sources_for("sharepoint", AppSettings(_env_file=None))


def test_connector_secrets_never_show():
    settings = AppSettings(
        _env_file=None, sharepoint_client_secret="s-never-print-me", confluence_token="t-never"
    )
    assert "never" not in repr(settings) and "never" not in str(settings.model_dump())


def test_the_core_settings_module_names_no_connector():
    """The core's settings compose the connectors' group; they do not list their fields."""
    import core.settings

    text = Path(core.settings.__file__).read_text(encoding="utf-8").lower()
    assert "sharepoint" not in text and "confluence" not in text
