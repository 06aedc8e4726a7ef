"""The offline answerer: the fact from the passage that answers best, cited.

Needs no model, so a fresh checkout answers from the documents straight away. What is
quoted — sentences, a procedure's steps, a table's matching rows under their header — is
chosen in ``core.extract``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from core.answers import Passage
from core.extract.compose import compose
from core.generation import GenerationRequest
from core.language import ENGLISH_PASSAGES, language_of
from core.text import sentences, terms

NOTHING_FOUND = (
    "I couldn't find anything about that in the company documents I can search. "
    "Try different words, or ask the People Team (HR) or the IT Help Hub directly."
)


SentenceTerms = Sequence[tuple[str, Sequence[str]]]


def sentence_terms(text: str) -> SentenceTerms:
    """``text``'s sentences, each with its terms: what ``best_sentences`` reads of a passage."""
    return tuple((sentence, tuple(terms(sentence))) for sentence in sentences(text))


def best_sentences(
    question: str, passage: Passage, limit: int = 2,
    read: Callable[[str], SentenceTerms] = sentence_terms,
) -> list[str]:
    """The ``limit`` sentences of ``passage`` sharing most words with ``question``, in order.
    ``read`` gives the passage's sentences and their terms (``sentence_terms``, or a
    remembered copy: ``core/memo.py``)."""
    wanted = set(terms(question))
    scored = []
    for index, (sentence, words) in enumerate(read(passage.text)):
        if len(words) < 3:
            continue
        overlap = len(wanted.intersection(words))
        scored.append((overlap, -index, sentence))
    scored.sort(reverse=True)
    chosen = [item for item in scored[:limit] if item[0] > 0] or scored[:1]
    return [sentence for _, _, sentence in sorted(chosen, key=lambda item: -item[1])]


class ExtractiveAnswerer:
    """Answers with quoted passages instead of generated prose."""

    name = "extractive"

    def __init__(self, *, max_passages: int = 3) -> None:
        self._max_passages = max_passages

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        request.usage.model = self.name
        lines = compose(request.question, request.passages, max_passages=self._max_passages)
        if not lines:
            yield NOTHING_FOUND
            return
        note = ENGLISH_PASSAGES.get(language_of(request.question, request.locale) or "")
        if note:
            # Quoted passages stay in English; say so in the asker's language first.
            yield note + "\n\n"
        for k, line in enumerate(lines):
            yield line if k == 0 else "\n" + line
