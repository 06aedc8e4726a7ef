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
