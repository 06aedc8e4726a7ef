"""Restricted documents in retrieval, in each ranking (full text, vectors, both): the audience
finds them, everyone else finds nothing of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.runtime import Runtime
from core.settings import Settings
from store.retrieval import FullTextRetriever
from tests.store.test_retrieval import DOCS, embedding_settings, retriever, write

RANKINGS = [{"text": 1, "vector": 1}, {"text": 0, "vector": 1}, {"text": 1, "vector": 0}]
QUESTION = "holiday allowance paid days, and the VPN"


@pytest.fixture
async def restricted(settings: Settings, fake_openai, tmp_path: Path) -> AsyncIterator[Runtime]:
    _, url = fake_openai
    async with await Runtime.start(embedding_settings(settings, url)) as rt:
        kb = write(tmp_path / "kb", DOCS)
        # The holiday page is for HR's group and Maria only.
        await rt.audiences.allow(str(kb / "hr"), ("group:hr", "maria@example.com"))
        report = await rt.ingestor.ingest([kb])
        assert report.failed == [] and report.embedded == report.chunks > 0
        yield rt


@pytest.mark.parametrize("weights", RANKINGS)
async def test_the_audience_finds_a_restricted_document(restricted: Runtime, weights):
    for principals in (["maria@example.com"], ["bob@example.com", "group:hr"]):
        found = await retriever(restricted, **weights).search(
            QUESTION, k=5, principals=principals
        )
        assert "Holiday allowance" in [p.title for p in found]


@pytest.mark.parametrize("weights", RANKINGS)
async def test_no_one_else_finds_it(restricted: Runtime, weights):
    for principals in ([], ["bob@example.com"], ["bob@example.com", "group:finance"]):
        found = await retriever(restricted, **weights).search(
            QUESTION, k=5, principals=principals
        )
        assert found, "public documents are still found"
        assert "Holiday allowance" not in [p.title for p in found]


async def test_full_text_search_keeps_the_audience(restricted: Runtime):
    plain = FullTextRetriever(restricted.db.pool)
    assert "Holiday allowance" in [
        p.title for p in await plain.search("holiday", k=5, principals=["maria@example.com"])
    ]
    assert "Holiday allowance" not in [
        p.title for p in await plain.search("holiday", k=5, principals=["bob@example.com"])
    ]
