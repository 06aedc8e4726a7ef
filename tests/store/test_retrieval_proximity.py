"""Words of the question that stand together in a chunk count for more, against real Postgres
(full text ranking)."""

from __future__ import annotations

from pathlib import Path

from bots.runtime import Runtime
from core.settings import Settings
from store.retrieval import HybridRetriever, adjacent_pairs

# Says "engineering" more often than the guide, but never next to "prompt".
SCATTERED = (
    "# Team handbook\n\n"
    "Engineering teams answer every prompt from the on-call rota within the hour, and "
    "engineering leads sign off holidays."
)
# Says them once, as the phrase the question asks about.
OTHERS = {
    f"notes/{topic}.md": f"# {topic.title()}\n\nAsk the office team about the {topic}."
    for topic in ("canteen", "parking", "lockers", "printers", "badges", "plants")
}
TOGETHER = (
    "# Writing guide\n\n"
    "Prompt engineering means writing clear instructions for the model, with one or two "
    "worked examples and the format the answer should take."
)


def test_adjacent_pairs_keep_the_words_between():
    assert adjacent_pairs("How do I do prompt engineering for the model?") == [
        "prompt engineering", "engineering for the model"
    ]
    assert adjacent_pairs("VPN") == []


async def test_a_chunk_with_the_question_s_phrase_outranks_scattered_words(
    settings: Settings, tmp_path: Path
):
    kb = tmp_path / "kb"
    for name, text in {"handbook.md": SCATTERED, "guide.md": TOGETHER, **OTHERS}.items():
        (kb / name).parent.mkdir(parents=True, exist_ok=True)
        (kb / name).write_text(text)
    async with await Runtime.start(settings) as rt:
        report = await rt.ingestor.ingest([kb])
        assert report.failed == []
        found = await HybridRetriever(rt.db.pool).search("what is prompt engineering?", k=2)

    assert [p.title for p in found] == ["Writing guide", "Team handbook"]
