"""Citations in a finished answer point only at passages that were retrieved."""

from __future__ import annotations

from core.answers import Passage
from core.citations import cite
from core.extractive import sentence_terms
from core.memo import Memo


def passage(n: int, text: str) -> Passage:
    return Passage(chunk_id=n, document_id=n, title=f"Doc {n}", text=text, domain="it", score=1.0,
                   path=f"/docs/{n}.md", section="Setup")


def test_markers_without_a_passage_are_removed_and_real_ones_kept():
    passages = [passage(1, "Install GlobalProtect from the Company Portal. Then sign in."),
                passage(2, "Guests use the Lumen-Guest network.")]
    text, citations = cite("how do I install the VPN", "Install it [1] and rest [7]. Guests differ [2].", passages)

    assert text == "Install it [1] and rest. Guests differ [2]."
    assert [(c.n, c.title, c.path) for c in citations] == [(1, "Doc 1", "/docs/1.md"), (2, "Doc 2", "/docs/2.md")]
    assert "GlobalProtect" in citations[0].snippet


def test_answer_without_markers_has_no_citations():
    text, citations = cite("q", "No sources here.", [passage(1, "Something long enough to count.")])
    assert text == "No sources here." and citations == []


def test_a_passage_read_for_one_answer_gives_the_next_its_own_snippet():
    vpn = passage(1, "Sign in with your badge. " * 12 + "Install GlobalProtect from the Company Portal.")
    guests = passage(2, "Ask reception for a code. " * 12 + "Guests use the Lumen-Guest network.")
    read = Memo(sentence_terms)
    first = cite("how do I install the VPN", "Install it [1]. Guests [2].", [vpn, guests], read)
    again = cite("which network do guests use", "Guests [1]. Install it [2].", [guests, vpn], read)
    assert [c.snippet for c in first[1]] == [c.snippet for c in cite(
        "how do I install the VPN", "Install it [1]. Guests [2].", [vpn, guests])[1]]
    assert "GlobalProtect" in first[1][0].snippet and "Lumen-Guest" in again[1][0].snippet
    assert len(read) == 2  # each passage read once
