"""Tidying a fused ranking into the passages shown: adjacent chunks of a document merged,
near duplicates dropped, a cap per document."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from core.answers import Matched, Passage

_SHINGLE = re.compile(r"\w+")
_NEAR_DUPLICATE = 0.8


@dataclass(slots=True)
class Hit:
    """A chunk as one ranking placed it (``branch``, ``rank``), with what a passage shows."""

    chunk_id: int
    branch: str
    rank: int
    document_id: int
    ord: int
    title: str
    text: str
    domain: str
    url: str | None
    path: str | None
    section: str | None
    page_start: int | None
    page_end: int | None
    main_page: int | None
    # Coverage (store/retrieval_sql.DETAILS): the question's content lexemes and their weights
    # (on a ranking's first row only), and which of them this chunk holds, as bits.
    question_lexemes: list[str] | None = None
    question_weights: list[float] | None = None
    found_bits: int = 0


def collapse(passages: Sequence[Passage], k: int, per_document: int = 2) -> list[Passage]:
    """The best ``k`` passages with at most ``per_document`` from any one document."""
    taken: dict[int, int] = {}
    kept: list[Passage] = []
    for passage in passages:
        if taken.get(passage.document_id, 0) >= per_document:
            continue
        taken[passage.document_id] = taken.get(passage.document_id, 0) + 1
        kept.append(passage)
        if len(kept) == k:
            break
    return kept



# A chunk's word trigrams, as the near-duplicate checks compare them (``shingles``).
Shingles = Callable[[str], AbstractSet[int]]


def tidy(
    ranked: Sequence[Hit], scores: dict[int, float], k: int, per_document: int,
    *, distinct_first: bool = True, content: str | None = None,
    shingles: Shingles | None = None,
) -> list[Passage]:
    """The best ``k`` passages: adjacent chunks of a document merged (three at most), chunks
    overlapping a better passage of their document or copying one of another dropped, at most
    ``per_document`` from one document, and a document's further passages only in the slots
    that other documents leave free (after them).

    A merged passage keeps its better chunk's score: merging tidies, it does not reorder.
    ``content``: the question's content words the hits measured (``Hit.found_lexemes``);
    each passage then carries what it holds of them. ``shingles``: how a chunk's word trigrams
    are read (``shingles_of``, or a ``core.memo.Memo`` of it that remembers them across
    questions); the sets it returns are never changed here.
    """
    read = shingles if shingles is not None else shingles_of  # an empty Memo is falsy
    kept: list[tuple[Hit, set[int]]] = []
    at: dict[tuple[int, int], int] = {}  # (document, ord) -> index in kept
    per: dict[int, int] = {}
    seen: list[set[int]] = []  # word trigrams of each kept passage
    pieces: list[AbstractSet[int]] = []  # word trigrams of each chunk shown, merged or not
    queue = list(ranked)
    waiting: set[int] = set()
    for hit in queue:  # grows while iterating: deferred hits are retried at the end
        key = hit.document_id
        neighbour = at.get((key, hit.ord - 1), at.get((key, hit.ord + 1)))
        if neighbour is not None and len(kept[neighbour][1]) < 3:
            joined, ords = kept[neighbour]
            kept[neighbour] = (_join(joined, hit), ords | {hit.ord})
            at[(key, hit.ord)] = neighbour
            if len(kept) < k:  # with k passages kept, no later hit is compared any more
                words = read(hit.text)
                seen[neighbour] |= words
                pieces.append(words)
            continue
        if len(kept) == k or per.get(key, 0) >= per_document:
            continue
        if distinct_first and key in per and hit.chunk_id not in waiting:
            # Distinct documents first: a second passage of a document shown already would
            # push another document out of the k (docs/benchmarks.md, retrieval quality).
            waiting.add(hit.chunk_id)
            queue.append(hit)
            continue
        words = read(hit.text)
        # Within a document a chunk overlapping a kept passage adds nothing; across documents
        # only a copy of a chunk shown does (a short section quoted in a longer one still counts).
        if any(
            _contained(words, seen[i]) >= _NEAR_DUPLICATE
            for i, (passage, _) in enumerate(kept)
            if passage.document_id == key
        ) or any(_jaccard(words, other) >= _NEAR_DUPLICATE for other in pieces):
            continue
        seen.append(set(words))
        pieces.append(words)
        per[key] = per.get(key, 0) + 1
        at[(key, hit.ord)] = len(kept)
        kept.append((hit, {hit.ord}))
    matched = _matcher(ranked, content)
    return [
        Passage(
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            title=hit.title,
            text=hit.text,
            domain=hit.domain,
            score=scores[hit.chunk_id],
            url=hit.url,
            path=hit.path,
            section=hit.section,
            page_start=hit.page_start,
            page_end=hit.page_end,
            main_page=hit.main_page,
            matched=matched(hit),
        )
        for hit, _ in kept
    ]


def _matcher(ranked: Sequence[Hit], content: str | None) -> Callable[[Hit], Matched | None]:
    """What each passage holds of the question's content words: the lexemes and weights come
    on a ranking's first row (store/retrieval_sql.DETAILS), the same for every passage."""
    question = next((h for h in ranked if h.question_lexemes is not None), None)
    if content is None or question is None:
        return lambda hit: None
    lexemes = tuple(question.question_lexemes or ())
    weights = tuple(question.question_weights or ())

    def matched(hit: Hit) -> Matched:
        found = frozenset(w for n, w in enumerate(lexemes) if hit.found_bits >> n & 1)
        return Matched(content=content, lexemes=lexemes, weights=weights, found=found)

    return matched


def _join(a: Hit, b: Hit) -> Hit:
    """Two adjacent chunks as one: in document order, their shared overlap written once.

    Chunks of two sections keep each section's name as a heading line above its text, so a
    merged passage still says where each part belongs ("Mileage" above the mileage rates, not
    over the hotel caps before them).
    """
    first, second = (a, b) if a.ord < b.ord else (b, a)
    rest = _rest_after_overlap(first.text, second.text)
    if second.section and second.section != first.section and rest.startswith("\n\n"):
        heading = _heading(rest, second.section)
        body = f"\n\n{heading}{rest.lstrip(chr(10))}" if heading else rest
        text = _heading(first.text, first.section) + first.text + body
    else:
        text = first.text + rest
    pages = [p for p in (first.page_start, second.page_start, first.page_end, second.page_end) if p]
    return replace(
        a,
        text=text,
        found_bits=a.found_bits | b.found_bits,
        section=a.section or b.section,
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
    )


def _heading(text: str, section: str | None) -> str:
    """A Markdown heading line naming ``section``, unless ``text`` starts with it already (a
    PDF page's title line) or has one (a passage merged before)."""
    if not section:
        return ""
    name = section.strip()
    start = text.lstrip("\n")
    if not name or start.startswith("#") or start[: len(name) + 20].find(name) >= 0:
        return ""
    return f"#### {name}\n\n"


def _rest_after_overlap(head: str, tail: str, longest: int = 400) -> str:
    """``tail`` after the longest of its starts (21 to ``longest`` characters) that ``head``
    ends with. Only where ``head`` holds ``tail``'s first 21 characters can one start, so
    those places are found (``str.find``) rather than every length tried."""
    limit = min(len(head), len(tail), longest)
    window = head[len(head) - limit:]
    probe = tail[:21]
    start = window.find(probe) if limit > 20 else -1
    while start >= 0:  # leftmost first: the longest overlap wins
        if tail.startswith(window[start:]):
            return tail[limit - start:]
        start = window.find(probe, start + 1)
    return "\n\n" + tail


def shingles_of(text: str) -> frozenset[int]:
    """The text's word trigrams (a text of fewer words is one), each as its hash: the checks
    only compare them, and a set of numbers takes half the memory of one of tuples, which
    matters where they are remembered (about 11 KB for a chunk of 1,000 characters)."""
    words = _SHINGLE.findall(text.lower())
    if len(words) < 3:
        return frozenset((hash(tuple(words)),))
    return frozenset(map(hash, zip(words, words[1:], words[2:])))


def _jaccard(a: AbstractSet[int], b: AbstractSet[int]) -> float:
    if not (a and b):
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)  # the union's size, without making the union


def _contained(part: AbstractSet[int], whole: AbstractSet[int]) -> float:
    """How much of ``part`` (word trigrams) is already in ``whole``."""
    return len(part & whole) / len(part) if part else 1.0
