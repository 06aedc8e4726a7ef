"""The fast lexical router: sure only when the question says clearly where it belongs."""

from __future__ import annotations

import pytest

from core.routing import LexicalRouter, load_domains, search_scope

ROUTER = LexicalRouter(load_domains())


@pytest.mark.parametrize(
    "question, domain",
    [
        ("How do I connect to the VPN from home?", "it"),
        ("How much annual leave do associates in Lisbon get?", "hr"),
        ("What is the travel policy for flights?", "documents"),
        ("How do I book holiday?", "hr"),
    ],
)
async def test_a_clear_question_is_routed_surely(question: str, domain: str):
    decision = await ROUTER.route(question)
    assert decision.primary == domain and decision.confidence >= 0.6


async def test_one_weak_shared_word_is_a_hint_not_certainty():
    decision = await ROUTER.route("Can I bring my dog to the office?")
    assert decision.primary == "general" and 0 < decision.confidence < 0.6


async def test_a_question_spanning_domains_names_both_and_is_unsure():
    decision = await ROUTER.route("Can I expense a laptop for working remotely abroad?")
    assert len(decision.domains) == 2 and decision.confidence < 0.5


async def test_a_short_follow_up_inherits_the_threads_subject():
    decision = await ROUTER.route("and if I am locked out?", ["How do I reset my password?"])
    assert decision.primary == "it"


def test_every_shipped_domain_names_a_contact_for_when_documents_have_no_answer():
    assert all(d.contact for d in load_domains())


async def test_search_scope_unions_the_sources_of_every_routed_domain():
    decision = await ROUTER.route("Can I expense a laptop for working remotely abroad?")
    assert set(search_scope(ROUTER.domains, decision)) == {"policy", "hr"}


async def test_an_unsure_route_searches_every_domain():
    unsure = await ROUTER.route("Can I expense a laptop for working remotely abroad?")
    sure = await ROUTER.route("How do I connect to the VPN from home?")

    assert search_scope(ROUTER.domains, unsure, confident=0.5) == ()
    assert search_scope(ROUTER.domains, sure, confident=0.5) == ("it",)
