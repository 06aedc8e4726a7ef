"""``/metrics`` shows what happened: events, the inbox, platform calls, the model's tokens and
cost, answers and their timings, job runs."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bots.worker import WORKER
from core.settings import Settings
from tests.bots.slack.conftest import dm, new_ts
from tests.reliability.conftest import all_finished, eventually, model_server, replica
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_slack import FakeSlack


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_show_one_answered_question_from_arrival_to_cost(settings: Settings):
    model = FakeOpenAI(default_reply="Open the VPN client and sign in [1].")
    fake = FakeSlack()
    ts = new_ts()
    async with (
        model_server(model) as url,
        replica(settings, fake, model_url=url) as slack,
    ):
        event = dm("How do I connect to the VPN from home?", ts=ts)
        await slack.event(event, event_id="EvM1")
        await slack.event(event, event_id="EvM1", retry_num=1)  # Slack's retry: a duplicate
        await eventually(lambda: all_finished(slack.runtime, 1))
        await slack.settle()
        assert slack.runtime.jobs is not None
        await slack.runtime.jobs.run_now("retention")
        await slack.http.app[WORKER].sweep()  # a sweep refreshes the inbox gauges
        found = samples(await (await slack.http.get("/metrics")).text())

    assert value(found, "switchboard_events_received_total", platform="slack") == 2
    assert value(found, "switchboard_events_deduplicated_total", platform="slack") == 1
    assert value(found, "switchboard_events_finished_total", platform="slack", outcome="done") == 1
    assert value(found, "switchboard_inbox_depth", state="working") == 0
    assert value(found, "switchboard_inbox_oldest_age_seconds") == 0
    assert value(found, "switchboard_answers_total", outcome="complete") == 1
    assert value(found, "switchboard_time_to_first_token_seconds_count") == 1
    assert value(found, "switchboard_answer_duration_seconds_count") == 1
    assert (
        value(
            found,
            "switchboard_platform_calls_total",
            platform="slack",
            method="chat.startStream",
            outcome="ok",
        )
        == 1
    )
    assert value(found, "switchboard_model_tokens_total", model="gpt-4o-mini", kind="output") > 0
    assert value(found, "switchboard_model_cost_usd_total", model="gpt-4o-mini") > 0
    assert value(found, "switchboard_job_runs_total", job="retention", outcome="succeeded") == 1
