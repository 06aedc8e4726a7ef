"""Evaluation sets in one shape: load one, ingest it through our pipeline, score what a
retriever (or an answer) returned against a question's gold.

The functions and types below are a stable API that other benchmarks build on:

- ``SETS`` — the development sets' names, in report order (``claude-docs``,
  ``financebench-subset``), each a folder of ``EVAL_ROOT``.
- ``load_set(name_or_folder) -> EvalSet`` — documents and questions of a set. ``claude-docs``
  is read from its JSON files; any other folder is the common format: ``docs/`` (files our
  loaders read: PDF, Markdown, HTML, text) and ``questions.jsonl``, one object a line with
  ``id``, ``question``, ``gold_doc`` (a file name under ``docs/``) or ``gold_docs`` (a list),
  optional ``gold_pages`` (1-based pages of ``gold_doc``) and optional ``domain``.
- ``load_questions(path, evalset) -> list[Question]`` — further questions for a set's documents
  in that same format (translations, out-of-scope questions: ``gold_docs`` may be empty).
- ``ingest_set(evalset, pool, *, chunker, embedder) -> IngestReport`` — every document of the
  set through ``core.ingest`` (loaders, chunking, batched embeddings, COPY) into a database
  (use ``bench.postgres()`` for a throwaway one). A passage's ``url`` is then its document's
  key, which is what the scorer compares.
- ``score_passages(passages, question, k) -> Score`` — hit, page hit, recall and reciprocal
  rank at ``k`` of anything with ``url``, ``page_start`` and ``page_end`` (a ``Passage``).
- ``Totals`` — adds up ``Score``s; ``.mean()`` gives the set's figures.
- ``CachedEmbedder`` — an embedder that remembers vectors by (model, exact text) in a file per
  model, so a rerun embeds only what changed and starts the model server only then.

Scoring. Documents: the distinct documents of the top ``k`` passages, in order; a hit when a
gold document is among them, recall the share of gold documents found, reciprocal rank that of
the first. Pages (where the gold names pages): a passage hits when its document is the gold one
and its page range ``page_start``–``page_end`` includes a gold page; recall is then the share of
gold pages covered, reciprocal rank that of the first passage that hits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from bench import REPO
from core.embeddings import OpenAIEmbedder
from core.ingest import Ingestor, IngestReport
from core.ingest.chunking import Chunker
from core.ingest.connectors.base import RemoteItem
from core.ingest.documents import LoadedDocument, Section
from core.ingest.loaders import PdfText, content_hash, load_bytes, pdf_document, read_pdf
from core.ingest.pipeline import Embedder
from store.knowledge import PgKnowledgeStore

EVAL_ROOT = REPO.parent / "shared" / "eval"
SETS = ("claude-docs", "financebench-subset")


@dataclass(frozen=True, slots=True)
class Gold:
    """A document that answers a question, and where pages are known, the pages."""

    document: str
    pages: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Question:
    """A question with its gold; ``domain`` when the set allows a route label."""

    id: str
    text: str
    gold: tuple[Gold, ...]
    domain: str | None = None
    language: str = "en"


@dataclass(frozen=True, slots=True)
class EvalDocument:
    """One document of a set: its key (uri and url once ingested), and its text or file."""

    key: str
    title: str
    text: str | None = None
    file: Path | None = None
    domain: str = "general"


@dataclass(slots=True)
class EvalSet:
    """A set's documents and questions; ``has_pages`` when its gold names pages."""

    name: str
    documents: list[EvalDocument]
    questions: list[Question]
    has_pages: bool = False

    def sample(self, every: int) -> EvalSet:
        """Every ``every``-th document (in name order) and the questions about them: a bounded
        slice for runs that must embed everything afresh."""
        if every <= 1:
            return self
        documents = sorted(self.documents, key=lambda d: d.key)[::every]
        keys = {d.key for d in documents}
        questions = [q for q in self.questions if q.gold and all(g.document in keys for g in q.gold)]
        return EvalSet(f"{self.name} (every {every}th document)", documents, questions,
                       self.has_pages)

    def domain_of(self, key: str) -> str:
        return next((d.domain for d in self.documents if d.key == key), "general")


# -- loading -------------------------------------------------------------------------------


def _claude_docs_domain(link: str) -> str:
    """A route label from the page's place on the site: the API reference, or the guides."""
    path = link.split("docs.claude.com/", 1)[-1]
    return "api" if path.startswith("en/api/") else "guides"


def _claude_docs(root: Path) -> EvalSet:
    entries = json.loads((root / "data" / "anthropic_docs.json").read_text())
    raw = json.loads((root / "evaluation" / "docs_evaluation_dataset.json").read_text())
    documents = [
        EvalDocument(key=e["chunk_link"], title=e["chunk_heading"], text=e["text"],
                     domain=_claude_docs_domain(e["chunk_link"]))
        for e in entries
    ]
    questions = []
    for q in raw:
        gold = tuple(Gold(link) for link in q["correct_chunks"])
        domains = {_claude_docs_domain(g.document) for g in gold}
        questions.append(Question(
            id=q["id"], text=q["question"], gold=gold,
            domain=domains.pop() if len(domains) == 1 else None,
        ))
    return EvalSet("claude-docs", documents, questions)


def _company(file_name: str) -> str:
    """financebench's files are named COMPANY_PERIOD_KIND.pdf: the company is the route label."""
    words = file_name.lower().split("_")
    return "_".join(words[:next(i for i, w in enumerate(words) if i and w[:1].isdigit())])


def _question(raw: dict, *, label: Callable[[str], str] | None, language: str) -> Question:
    documents = raw.get("gold_docs") or ([raw["gold_doc"]] if raw.get("gold_doc") else [])
    pages = frozenset(int(p) for p in raw.get("gold_pages") or ())
    gold = tuple(Gold(d, pages if i == 0 else frozenset()) for i, d in enumerate(documents))
    domain = raw.get("domain") or (label(documents[0]) if label and documents else None)
    return Question(id=str(raw["id"]), text=raw["question"], gold=gold, domain=domain,
                    language=raw.get("language", language))


def _folder(root: Path) -> EvalSet:
    label = _company if root.name.startswith("financebench") else None
    files = sorted(p for p in (root / "docs").rglob("*") if p.is_file())
    documents = [
        EvalDocument(key=str(p.relative_to(root / "docs")), title=p.stem.replace("_", " "),
                     file=p, domain=label(p.name) if label else "general")
        for p in files
    ]
    lines = (root / "questions.jsonl").read_text().splitlines()
    questions = [_question(json.loads(line), label=label, language="en")
                 for line in lines if line.strip()]
    has_pages = any(g.pages for q in questions for g in q.gold)
    return EvalSet(root.name, documents, questions, has_pages)


def load_set(name_or_folder: str | Path) -> EvalSet:
    """A set by name (a folder of ``EVAL_ROOT``) or by folder."""
    root = Path(name_or_folder)
    if not root.exists():
        root = EVAL_ROOT / str(name_or_folder)
    if (root / "data" / "anthropic_docs.json").exists():
        return _claude_docs(root)
    return _folder(root)


def load_questions(path: Path, evalset: EvalSet) -> list[Question]:
    """Questions in the common format about ``evalset``'s documents."""
    label = evalset.domain_of
    return [
        _question(json.loads(line), label=label, language="en")
        for line in path.read_text().splitlines() if line.strip()
    ]


# -- ingesting -----------------------------------------------------------------------------


PDF_CACHE = Path("/tmp/sbbench-cache/pdf")


def pdf_text(data: bytes, file: Path) -> PdfText:
    """``read_pdf`` remembered by the file's hash: pypdf reads financebench's 3,740 pages in
    about ten minutes here, and what it extracts does not change between runs."""
    cached = PDF_CACHE / f"{hashlib.sha256(data).hexdigest()}-plain.json"
    if cached.exists():
        raw = json.loads(cached.read_text())
        return PdfText(raw["pages"], raw["info"])
    text = read_pdf(data, file)
    PDF_CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".tmp")
    partial.write_text(json.dumps({"pages": text.pages, "info": text.info}))
    partial.rename(cached)
    return text


class EvalSource:
    """A set's documents as an ingestion source: each keyed by ``EvalDocument.key`` as uri
    and url; files go through our own loaders (PDF pages kept)."""

    kind = "eval"
    scope: str | None = None

    def __init__(self, evalset: EvalSet) -> None:
        self._documents = {d.key: d for d in evalset.documents}
        self.gone: list[str] = []
        self.failed: list[tuple[str, str]] = []

    async def list(self) -> list[RemoteItem]:
        return [RemoteItem(uri=key, name=key, url=key) for key in self._documents]

    async def fetch(self, item: RemoteItem, *, salt: str) -> LoadedDocument:
        entry = self._documents[item.uri]
        if entry.file is not None:
            data = await asyncio.to_thread(entry.file.read_bytes)
            if entry.file.suffix.lower() == ".pdf":
                text = await asyncio.to_thread(pdf_text, data, entry.file)
                document = pdf_document(text, data, entry.file, salt)
            else:
                document = await asyncio.to_thread(load_bytes, data, entry.file.name, salt=salt)
            document.uri = document.url = item.uri
            document.path = None
            document.source = self.kind
            document.domain = entry.domain
            return document
        assert entry.text is not None
        return LoadedDocument(
            uri=item.uri, title=entry.title, domain=entry.domain, kind="text",
            content_hash=content_hash(entry.text.encode(), salt),
            sections=[Section(text=entry.text)], source=self.kind, url=item.uri,
        )

    async def aclose(self) -> None:
        return None


async def ingest_set(
    evalset: EvalSet, pool: AsyncConnectionPool, *, chunker: Chunker, embedder: Embedder | None
) -> IngestReport:
    """Ingest every document of ``evalset`` into the database behind ``pool``."""
    ingestor = Ingestor(PgKnowledgeStore(pool), chunker=chunker, embedder=embedder)
    report = await ingestor.ingest_source(EvalSource(evalset))
    if report.failed:
        raise RuntimeError(f"{evalset.name}: {len(report.failed)} documents failed: "
                           f"{report.failed[:3]}")
    return report


# -- scoring -------------------------------------------------------------------------------


class Located(Protocol):
    url: str | None
    page_start: int | None
    page_end: int | None


@dataclass(frozen=True, slots=True)
class Score:
    """One question's figures at k; ``page_hit`` is None where the gold names no pages."""

    hit: float
    recall: float
    rr: float
    page_hit: float | None = None
    page_recall: float | None = None
    page_rr: float | None = None


def _pages(p: Located) -> set[int]:
    if p.page_start is None:
        return set()
    return set(range(p.page_start, (p.page_end or p.page_start) + 1))


def score_passages(passages: Sequence[Located], question: Question, k: int) -> Score:
    """Score the first ``k`` passages against ``question``'s gold (see the module docstring)."""
    top = list(passages)[:k]
    gold_docs = {g.document for g in question.gold}
    documents = list(dict.fromkeys(p.url for p in top if p.url))
    found = [d for d in documents if d in gold_docs]
    first = next((i for i, d in enumerate(documents, 1) if d in gold_docs), None)
    hit = 1.0 if found else 0.0
    recall = len(found) / len(gold_docs) if gold_docs else 0.0
    rr = 1 / first if first else 0.0
    paged = [g for g in question.gold if g.pages]
    if not paged:
        return Score(hit, recall, rr)
    wanted = {(g.document, page) for g in paged for page in g.pages}
    covered: set[tuple[str, int]] = set()
    page_first = None
    for i, p in enumerate(top, 1):
        got = {(p.url, page) for page in _pages(p)} & wanted if p.url else set()
        if got and page_first is None:
            page_first = i
        covered |= got
    return Score(hit, recall, rr, 1.0 if covered else 0.0, len(covered) / len(wanted),
                 1 / page_first if page_first else 0.0)


@dataclass(slots=True)
class Totals:
    """Scores of many questions; ``mean()`` is the set's figures."""

    scores: list[Score] = field(default_factory=list)

    def add(self, score: Score) -> None:
        self.scores.append(score)

    def mean(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if not self.scores:
            return out
        for name in ("hit", "recall", "rr", "page_hit", "page_recall", "page_rr"):
            values = [getattr(s, name) for s in self.scores if getattr(s, name) is not None]
            if values:
                out[name] = statistics.mean(values)
        return out


# -- vectors -------------------------------------------------------------------------------


class CachedEmbedder:
    """An embedder that remembers each vector by (model, exact text), in memory and, given a
    folder, in a file per model. The real embedder is made by ``start`` the first time a
    text is missing, so a fully cached run never starts the model server."""

    def __init__(self, model: str, start: Callable[[], OpenAIEmbedder], folder: Path | None):
        self.model = model
        self.dimensions: int | None = None
        self._start = start
        self._inner: OpenAIEmbedder | None = None
        self._file = folder / f"embeddings-{model}.jsonl" if folder is not None else None
        self._vectors: dict[str, list[float]] = {}
        self._new: dict[str, list[float]] = {}
        if self._file is not None and self._file.exists():
            for line in self._file.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by an interrupted run
                    continue
                self._vectors[entry["key"]] = entry["vector"]
        self._saved = set(self._vectors)
        self._starting = asyncio.Lock()  # ingestion embeds batches side by side: start once
        self.embedded = 0  # texts sent to the model
        self.reused = 0  # texts answered from an earlier run's file

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model}\0{text}".encode()).hexdigest()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(
            (k, t) for k, t in zip(keys, texts, strict=True) if k not in self._vectors
        ))
        if missing:
            async with self._starting:
                if self._inner is None:
                    self._inner = await asyncio.to_thread(self._start)
            vectors = await self._inner.embed([t for _, t in missing])
            for (key, _), vector in zip(missing, vectors, strict=True):
                self._vectors[key] = self._new[key] = vector
            # Saved as it goes: a long first ingest interrupted keeps what it embedded.
            if len(self._new) >= 2048:
                self.save()
        self.embedded += len(missing)
        self.reused += sum(1 for k in keys if k in self._saved)
        return [self._vectors[k] for k in keys]

    def save(self) -> None:
        if self._file is None or not self._new:
            return
        self._file.parent.mkdir(parents=True, exist_ok=True)
        with self._file.open("a") as out:
            for key, vector in self._new.items():
                out.write(json.dumps({"key": key, "vector": vector}) + "\n")
        self._saved |= set(self._new)
        self._new.clear()

    async def aclose(self) -> None:
        self.save()
        if self._inner is not None:
            await self._inner.aclose()
