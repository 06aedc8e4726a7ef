"""The app manifest asks for what the adapter uses, and the install flow asks for the same."""

from __future__ import annotations

from pathlib import Path

import yaml

from bots.slack.app import BOT_SCOPES

MANIFEST = Path(__file__).resolve().parents[3] / "manifest" / "slack.yaml"


def test_manifest_scopes_events_command_and_surfaces_match_the_adapter():
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {
        "app_mention",
        "message.im",
        "message.channels",
        "app_home_opened",
        "assistant_thread_started",
    } <= events
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/assistant" and command["should_escape"] is True
    features = manifest["features"]
    assert features["app_home"]["home_tab_enabled"] and features["app_home"]["messages_tab_enabled"]
    assert len(features["agent_view"]["suggested_prompts"]) <= 4
    assert manifest["settings"]["interactivity"]["is_enabled"]
    assert manifest["settings"]["org_deploy_enabled"]  # Enterprise Grid org-wide installs
    urls = [
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
        command["url"],
    ]
    assert all(u.endswith("/slack/events") for u in urls)
    assert manifest["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")
