"""``/assistant`` reaches the core's command handler; the reply comes back through response_url."""

from __future__ import annotations

from tests.bots.slack.conftest import TEAM, SlackHarness


async def slash(slack: SlackHarness, text: str, key: str):
    base = slack.fake.base_url
    return await slack.form(
        {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "acme",
            "channel_id": "C1",
            "channel_name": "general",
            "user_id": "U1",
            "user_name": "alice",
            "command": "/assistant",
            "text": text,
            "api_app_id": "A0001",
            "response_url": f"{base}/response/{key}",
            "trigger_id": "trigger-9",
        }
    )


def reply_text(response: dict) -> str:
    parts = [response.get("text", "")]
    for block in response.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
    return "\n".join(parts)


async def test_assistant_help_and_unknown_subcommands_get_the_help_text(slack: SlackHarness):
    response = await slash(slack, "help", "help")
    assert response.status == 200
    unknown = await slash(slack, "frobnicate now", "unknown")
    assert unknown.status == 200
    await slack.settle()
    replies = {r["key"]: r for r in slack.fake.responses}
    assert "Here's what I can do" in reply_text(replies["help"])
    assert replies["help"]["response_type"] == "ephemeral"
    text = reply_text(replies["unknown"])
    assert "frobnicate" in text and "`help`" in text
