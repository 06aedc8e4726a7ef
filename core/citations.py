"""Citations: keep the ``[n]`` markers that point at a retrieved passage, drop the rest."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from core.answers import Citation, Passage
from core.extractive import SentenceTerms, best_sentences, sentence_terms

_MARKER = re.compile(r"[ \t]?\[(\d{1,3})\]")
_SNIPPET_CHARS = 300


def cite(
    question: str, text: str, passages: Sequence[Passage],
    read: Callable[[str], SentenceTerms] = sentence_terms,
) -> tuple[str, list[Citation]]:
    """Return ``text`` without markers that match no passage, and the citations it makes.

    Citations are listed by number; each snippet is the passage's sentences that best match
    the question, so a reader sees why it was cited. ``read``: as for ``best_sentences``.
    """
    cited: dict[int, Citation] = {}

    def keep_or_drop(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if not 1 <= n <= len(passages):
            return ""
        if n not in cited:
            passage = passages[n - 1]
            snippet = " ".join(best_sentences(question, passage, read=read))[:_SNIPPET_CHARS]
            cited[n] = Citation.from_passage(n, passage, snippet)
        return match.group(0)

    checked = _MARKER.sub(keep_or_drop, text)
    return checked, [cited[n] for n in sorted(cited)]
