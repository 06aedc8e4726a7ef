"""The first-token wait grows with the prompt, at the endpoint's configured or measured pace."""

from __future__ import annotations

from core.llm.prefill import PromptReadingPace


def test_a_configured_pace_sets_the_reading_time_of_a_prompt():
    pace = PromptReadingPace(150)
    assert pace.reading_time(1500) == 10.0
    assert pace.reading_time(None) == 0.0


def test_the_slowest_recent_first_token_sets_the_pace_and_short_prompts_are_ignored():
    pace = PromptReadingPace()
    assert pace.reading_time(1600) == 0.0  # nothing known yet: the base wait alone
    pace.observe(1600, 10.0)  # 160 tokens/s
    pace.observe(1600, 1.0)  # a prompt the server had cached: not the pace to plan on
    pace.observe(50, 5.0)  # mostly network and queueing
    assert pace.tokens_per_s == 160


def test_a_wait_that_ran_out_slows_the_next_estimate_down():
    pace = PromptReadingPace()
    pace.observe_timeout(1600, 20.0)  # slower than 80 tokens/s: plan on 40
    assert pace.reading_time(1600) == 40.0
