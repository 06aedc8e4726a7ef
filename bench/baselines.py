"""The tutorial baselines the quality bench compares us with, in the same run and on the same
questions: LangChain's RecursiveCharacterTextSplitter at 1,000 / 200 characters (a PDF split
page by page, as PyPDFLoader + split_documents do), then

- BM25 (Okapi, k1 1.5, b 0.75) over those chunks' words, lower-cased, no stemming;
- all-MiniLM-L6-v2 cosine over the same chunks (the chunk text alone is embedded);
- their plain reciprocal-rank fusion (k = 60, equal weights, each ranking's top 100).

Written here rather than taken from a package so that what is compared is in plain sight.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from bench.evalsets import EvalSet, pdf_text
from core.ingest.pipeline import Embedder

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class BaselineChunk:
    """A tutorial chunk: its document key as ``url`` and its page, like a ``Passage``."""

    url: str
    page_start: int | None
    text: str

    @property
    def page_end(self) -> int | None:
        return self.page_start


def tutorial_chunks(evalset: EvalSet) -> list[BaselineChunk]:
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks: list[BaselineChunk] = []
    for document in evalset.documents:
        if document.file is not None and document.file.suffix.lower() == ".pdf":
            pages = pdf_text(document.file.read_bytes(), document.file).pages
            for number, page in enumerate(pages, start=1):
                chunks.extend(BaselineChunk(document.key, number, t)
                              for t in splitter.split_text(page))
        else:
            text = document.text if document.text is not None else document.file.read_text()  # type: ignore[union-attr]
            chunks.extend(BaselineChunk(document.key, None, t) for t in splitter.split_text(text))
    return chunks


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BM25:
    """Okapi BM25 over a fixed list of texts."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self._k1, self._b = k1, b
        self._docs = [Counter(_tokens(t)) for t in texts]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._average = sum(self._lengths) / max(1, len(self._lengths))
        df: Counter[str] = Counter(w for d in self._docs for w in d)
        n = len(self._docs)
        self._idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self._postings: dict[str, list[int]] = {}
        for i, d in enumerate(self._docs):
            for w in d:
                self._postings.setdefault(w, []).append(i)

    def rank(self, query: str, top: int) -> list[int]:
        scores: dict[int, float] = {}
        for word in set(_tokens(query)):
            idf = self._idf.get(word)
            if idf is None:
                continue
            for i in self._postings[word]:
                tf = self._docs[i][word]
                norm = self._k1 * (1 - self._b + self._b * self._lengths[i] / self._average)
                scores[i] = scores.get(i, 0.0) + idf * tf * (self._k1 + 1) / (tf + norm)
        return sorted(scores, key=lambda i: -scores[i])[:top]


class Cosine:
    """Exact cosine ranking over the chunks' vectors."""

    def __init__(self, vectors: Sequence[Sequence[float]]) -> None:
        matrix = np.asarray(vectors, dtype=np.float32)
        self._matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    def rank(self, vector: Sequence[float], top: int) -> list[int]:
        q = np.asarray(vector, dtype=np.float32)
        scores = self._matrix @ (q / np.linalg.norm(q))
        best = np.argpartition(-scores, min(top, len(scores) - 1))[:top]
        return [int(i) for i in best[np.argsort(-scores[best])]]


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking, start=1):
            scores[i] = scores.get(i, 0.0) + 1 / (k + rank)
    return sorted(scores, key=lambda i: -scores[i])


class Baselines:
    """The three baselines over one set's tutorial chunks."""

    names = ("BM25 (1000/200)", "MiniLM cosine (1000/200)", "RRF of both")

    def __init__(self, chunks: list[BaselineChunk], bm25: BM25, cosine: Cosine) -> None:
        self.chunks = chunks
        self._bm25 = bm25
        self._cosine = cosine

    @classmethod
    async def build(cls, evalset: EvalSet, embedder: Embedder) -> Baselines:
        chunks = tutorial_chunks(evalset)
        vectors: list[list[float]] = []
        for start in range(0, len(chunks), 512):
            vectors += await embedder.embed([c.text for c in chunks[start:start + 512]])
        return cls(chunks, BM25([c.text for c in chunks]), Cosine(vectors))

    def search(self, question: str, vector: Sequence[float], k: int) -> dict[str, list[BaselineChunk]]:
        lexical = self._bm25.rank(question, 100)
        dense = self._cosine.rank(vector, 100)
        fused = rrf([lexical, dense])
        return {
            name: [self.chunks[i] for i in ranking[:k]]
            for name, ranking in zip(self.names, (lexical, dense, fused), strict=True)
        }
