"""The Teams app package an admin uploads, built by ``switchboard teams-package``."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bots.cli import main
from bots.teams.package import MANIFEST_DIR, png_size
from core.commands.handler import COMMANDS

APP_ID = "12345678-aaaa-bbbb-cccc-1234567890ab"


def test_teams_package_builds_an_uploadable_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    for name in ("MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    output = tmp_path / "app.zip"
    code = main(
        [
            "teams-package",
            "--app-id",
            APP_ID,
            "--domain",
            "https://bot.contoso.com/api",
            "--version",
            "1.2.3",
            "--output",
            str(output),
        ]
    )
    assert code == 0, capsys.readouterr().err
    with zipfile.ZipFile(output) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        assert png_size(archive.read("color.png")) == (192, 192)
        assert png_size(archive.read("outline.png")) == (32, 32)
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == ["bot.contoso.com"]
    assert manifest["version"] == "1.2.3"
    assert manifest["manifestVersion"] == "1.22"
    assert manifest["$schema"].endswith("/v1.22/MicrosoftTeams.schema.json")
    assert set(manifest["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}


def test_teams_package_without_an_app_id_says_what_to_set(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)
    assert main(["teams-package", "--output", str(tmp_path / "x.zip")]) == 2
    assert "MICROSOFT_APP_ID" in capsys.readouterr().err
    assert (
        main(["teams-package", "--app-id", "not-a-guid", "--output", str(tmp_path / "x.zip")]) == 2
    )


def test_manifest_commands_are_commands_the_bot_knows_within_teams_limits():
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text("utf-8"))
    known = {"help"} | {spec.name for spec in COMMANDS}
    [command_list] = manifest["bots"][0]["commandLists"]
    assert command_list["scopes"] == ["personal"]
    commands = command_list["commands"]
    assert 0 < len(commands) <= 10
    for command in commands:
        assert command["title"] in known
        assert len(command["title"]) <= 32 and len(command["description"]) <= 128
    assert len(manifest["description"]["short"]) <= 80
    assert len(manifest["name"]["short"]) <= 30
