"""Adjacent chunks of two sections, merged into one passage, keep each section's name."""

from __future__ import annotations

from store.retrieval_tidy import Hit, tidy


def hit(chunk_id: int, ord_: int, section: str, text: str) -> Hit:
    return Hit(chunk_id=chunk_id, branch="text", rank=chunk_id, document_id=1, ord=ord_,
               title="Expenses", text=text, domain="hr", url=None, path="expenses.md",
               section=section, page_start=None, page_end=None, main_page=None)


def test_merged_sections_are_named_above_their_text():
    ranked = [hit(2, 1, "Limits › Mileage", "- **UK:** 45p per mile."),
              hit(1, 0, "Limits › Hotels", "| Location | Cap |\n|---|---|\n| London | £190 |")]
    [passage] = tidy(ranked, {1: 0.5, 2: 1.0}, k=5, per_document=5)
    assert passage.text.splitlines()[0] == "#### Limits › Hotels"
    hotels, mileage = passage.text.split("#### Limits › Mileage")
    assert "£190" in hotels and "45p per mile" in mileage
    assert passage.section == "Limits › Mileage"  # the better chunk's, as before


def test_chunks_of_one_section_merge_without_a_heading():
    ranked = [hit(1, 0, "Limits › Mileage", "UK rates are below."),
              hit(2, 1, "Limits › Mileage", "- **UK:** 45p per mile.")]
    [passage] = tidy(ranked, {1: 1.0, 2: 0.5}, k=5, per_document=5)
    assert "####" not in passage.text
    assert passage.text == "UK rates are below.\n\n- **UK:** 45p per mile."


def test_chunks_read_for_an_earlier_question_are_tidied_the_same_for_the_next():
    from core.memo import Memo
    from store.retrieval_tidy import shingles_of

    hotels = "Hotel stays are capped at 190 pounds a night in London and 120 elsewhere. " * 4
    mileage = "Mileage is paid at 45p per mile for the first ten thousand miles a year. " * 4
    leave = "Associates get twenty-five days of annual leave, plus public holidays. " * 4

    def ranked(order: list[int]) -> list[Hit]:
        hits = {
            1: hit(1, 0, "Hotels", hotels),
            2: hit(2, 1, "Mileage", mileage),  # next to 1: merged with it
            3: Hit(chunk_id=3, branch="text", rank=3, document_id=2, ord=0, title="Travel FAQ",
                   text=hotels, domain="hr", url=None, path="faq.md", section=None,
                   page_start=None, page_end=None, main_page=None),  # a copy: dropped
            4: Hit(chunk_id=4, branch="text", rank=4, document_id=3, ord=0, title="Leave",
                   text=leave, domain="hr", url=None, path="leave.md", section=None,
                   page_start=None, page_end=None, main_page=None),
        }
        return [hits[n] for n in order]

    scores = {1: 1.0, 2: 0.9, 3: 0.8, 4: 0.7}
    remembered = Memo(shingles_of)
    for order in ([1, 2, 3, 4], [3, 4, 1, 2], [1, 2, 3, 4]):
        fresh = tidy(ranked(order), scores, k=5, per_document=5)
        again = tidy(ranked(order), scores, k=5, per_document=5, shingles=remembered)
        assert again == fresh
    first = tidy(ranked([1, 2, 3, 4]), scores, k=5, per_document=5, shingles=remembered)
    assert [p.chunk_id for p in first] == [1, 4]  # merged with 2, the copy in 3 left out
    assert "45p per mile" in first[0].text
    assert len(remembered) == 3  # each distinct text read once, for all three questions
