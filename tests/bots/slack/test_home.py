"""App Home: the person's recent conversations by day, linked to their threads, and the prompts."""

from __future__ import annotations

from tests.bots.slack.conftest import SlackHarness, dm, new_ts


def texts(view: dict) -> list[str]:
    out = []
    for block in view["blocks"]:
        text = block.get("text")
        if isinstance(text, dict):
            out.append(text["text"])
    return out


async def test_app_home_lists_recent_conversations_under_today_and_this_weeks_prompts(
    slack: SlackHarness,
):
    first, second = new_ts(), new_ts()
    await slack.event(dm("How do I reset my password?", ts=first))
    await slack.event(dm("How many days of annual leave do I get?", ts=second))
    await slack.settle()
    await slack.event(
        {
            "type": "app_home_opened",
            "user": "U1",
            "channel": "D1",
            "tab": "home",
            "event_ts": new_ts(),
        }
    )
    await slack.settle()

    view = slack.fake.home_views["U1"]
    assert view["type"] == "home"
    shown = texts(view)
    [today] = [t for t in shown if t.startswith("*Today*")]
    assert f"archives/D1/p{first.replace('.', '')}" in today
    assert f"archives/D1/p{second.replace('.', '')}" in today
    assert "How do I reset my password?" in today
    [prompts] = [t for t in shown if t.startswith("*Try asking*")]
    assert len(prompts.splitlines()) - 1 == len(slack.runtime.settings.default_prompts[:9])
    # Someone else's home shows none of U1's conversations.
    await slack.event(
        {
            "type": "app_home_opened",
            "user": "U2",
            "channel": "D2",
            "tab": "home",
            "event_ts": new_ts(),
        }
    )
    await slack.settle()
    assert not any(t.startswith("*Today*") for t in texts(slack.fake.home_views["U2"]))
