"""A PDF passage found by retrieval shows the page its text is mostly on."""

from __future__ import annotations

from bots.runtime import Runtime
from core.answers import Citation
from core.ingest.chunking import Chunker
from core.ingest.documents import LoadedDocument, Section
from core.settings import Settings
from store.retrieval import HybridRetriever


async def test_a_passage_across_a_page_break_cites_the_page_holding_most_of_it(
    settings: Settings,
):
    document = LoadedDocument(
        uri="benefits.pdf", title="Benefits guide", domain="hr", kind="pdf", content_hash="h",
        sections=[
            Section(text="Eligibility. " * 40 + "\n\nOrthodontic cover", page=4),
            Section(text="pays half of braces for children under sixteen, up to 1,500 euros. "
                         * 3 + "\n\n" + "Glossary. " * 40, page=5),
        ],
    )
    async with await Runtime.start(settings) as rt:
        chunks = Chunker(chunk_size=300, chunk_overlap=0).split(document)
        await rt.knowledge.replace_documents([(document, chunks)])
        await rt.knowledge.refresh_term_statistics(len(chunks))
        found = await HybridRetriever(rt.db.pool).search("orthodontic braces children", k=1)

    assert found[0].page_start == 4 and found[0].page_end == 5
    assert found[0].page == 5
    assert found[0].location == "pp. 4–5"
    assert Citation.from_passage(1, found[0]).page == 5
