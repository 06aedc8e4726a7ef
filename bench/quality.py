"""Retrieval quality on the claude-docs evaluation set: full text, vectors, hybrid.

Ingests every document of ``data/anthropic_docs.json`` through our own ingestion (chunking,
batched embeddings, COPY) — its ``chunk_link`` is the document's url — then asks the 100
questions and scores the distinct documents among the top k passages against
``correct_chunks``: hit@k, recall@k and MRR@k.

    python -m bench.quality                       # starts serve.py (all-MiniLM-L6-v2) itself
    OPENAI_BASE_URL=http://127.0.0.1:8090/v1 python -m bench.quality --no-write

Vectors are remembered by model and exact input text in ``--cache`` (a file per model): a
rerun ingests through the same pipeline but embeds only texts it has not seen, and starts
the model server only then, so a retrieval-only sweep takes seconds. Changing the chunking or
what is embedded changes the texts, so nothing stale is reused. ``--no-cache`` embeds
everything afresh (what the reported ingest time needs).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import (
    EMBED_MODEL,
    REPO,
    command_line,
    embedding_server,
    machine,
    postgres,
    table,
    write_section,
)
from core.embeddings import OpenAIEmbedder
from core.ingest import Ingestor
from core.ingest.chunking import Chunker
from core.ingest.connectors.base import RemoteItem
from core.ingest.documents import LoadedDocument, Section
from core.ingest.loaders import content_hash
from core.settings import Settings
from store.database import Database
from store.knowledge import PgKnowledgeStore
from store.retrieval import HybridRetriever, HybridWeights

EVAL = REPO.parent / "shared" / "eval" / "claude-docs"
CACHE = Path("/tmp/sbbench-cache")


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
                entry = json.loads(line)
                self._vectors[entry["key"]] = entry["vector"]
        self._saved = set(self._vectors)
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
            if self._inner is None:
                self._inner = await asyncio.to_thread(self._start)
            vectors = await self._inner.embed([t for _, t in missing])
            for (key, _), vector in zip(missing, vectors, strict=True):
                self._vectors[key] = self._new[key] = vector
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
        self._new.clear()

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


class EvalDocuments:
    """The evaluation corpus as a source: one document per entry, its link as uri and url."""

    kind = "eval"
    scope: str | None = None

    def __init__(self, entries: list[dict[str, str]]) -> None:
        self._entries = {e["chunk_link"]: e for e in entries}
        self.gone: list[str] = []
        self.failed: list[tuple[str, str]] = []

    async def list(self) -> list[RemoteItem]:
        return [RemoteItem(uri=link, name=link, url=link) for link in self._entries]

    async def fetch(self, item: RemoteItem, *, salt: str) -> LoadedDocument:
        entry = self._entries[item.uri]
        return LoadedDocument(
            uri=item.uri,
            title=entry["chunk_heading"],
            domain="general",
            kind="text",
            content_hash=content_hash(entry["text"].encode(), salt),
            sections=[Section(text=entry["text"])],
            source=self.kind,
            url=item.uri,
        )

    async def aclose(self) -> None:
        return None


@dataclass
class Scores:
    """Per-question hit, recall and reciprocal rank at k, and each search's time."""

    hits: list[float]
    recalls: list[float]
    ranks: list[float]
    times_ms: list[float]

    def part(self, which: slice) -> tuple[float, float, float]:
        return (
            statistics.mean(self.hits[which]),
            statistics.mean(self.recalls[which]),
            statistics.mean(self.ranks[which]),
        )

    def percentile(self, q: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def score(
    retriever: HybridRetriever, questions: list[dict], k: int, rounds: int = 1
) -> Scores:
    """Ask every question; a question scores the distinct documents of the top k passages.
    Further ``rounds`` ask them again for the times only."""
    scores = Scores([], [], [], [])
    for _ in range(rounds - 1):
        for q in questions:
            started = time.perf_counter()
            await retriever.search(q["question"], k=k)
            scores.times_ms.append((time.perf_counter() - started) * 1000)
    for q in questions:
        started = time.perf_counter()
        passages = await retriever.search(q["question"], k=k)
        scores.times_ms.append((time.perf_counter() - started) * 1000)
        urls = list(dict.fromkeys(p.url for p in passages))[:k]
        gold = set(q["correct_chunks"])
        found = [u for u in urls if u in gold]
        scores.hits.append(1.0 if found else 0.0)
        scores.recalls.append(len(found) / len(gold))
        first = next((i for i, u in enumerate(urls, start=1) if u in gold), None)
        scores.ranks.append(1 / first if first else 0.0)
    return scores


HALVES = (slice(0, 50), slice(50, 100))


def row(name: str, s: Scores) -> tuple[str, ...]:
    hit, recall, mrr = s.part(slice(None))
    halves = " · ".join("{:.2f} / {:.3f}".format(*s.part(h)[:2]) for h in HALVES)
    return (name, f"{hit:.2f}", f"{recall:.3f}", f"{mrr:.3f}", halves,
            f"{s.percentile(0.5):.1f}", f"{s.percentile(0.95):.1f}")


@dataclass
class Ingested:
    documents: int
    chunks: int
    seconds: float
    embedded: int
    reused: int


@dataclass
class Result:
    name: str
    ranking: str  # "full text", "vectors" or "hybrid"
    candidates: int
    scores: Scores


async def run(
    args: argparse.Namespace, database_url: str, start_embedder: Callable[[], OpenAIEmbedder]
) -> tuple[Ingested, list[Result]]:
    documents = json.loads((EVAL / "data" / "anthropic_docs.json").read_text())
    questions = json.loads((EVAL / "evaluation" / "docs_evaluation_dataset.json").read_text())
    db = await Database.connect(Settings(_env_file=None, database_url=database_url))
    embedder = CachedEmbedder(args.model, start_embedder, None if args.no_cache else args.cache)
    try:
        ingestor = Ingestor(
            PgKnowledgeStore(db.pool),
            chunker=Chunker(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap),
            embedder=embedder,
        )
        started = time.perf_counter()
        report = await ingestor.ingest_source(EvalDocuments(documents))
        ingest_s = time.perf_counter() - started
        assert not report.failed, report.failed
        ingested = Ingested(report.added, report.chunks, round(ingest_s, 1),
                            embedder.embedded, embedder.reused)
        # Embed the questions up front: the times below are retrieval alone, not the model.
        await embedder.embed([q["question"] for q in questions])
        embedder.save()
        print(f"Ingested {report.added} documents, {report.chunks} chunks in {ingest_s:.1f} s "
              f"({embedder.embedded} texts embedded, {embedder.reused} from the cache)")
        hybrid = HybridWeights(text=args.text_weight, vector=args.vector_weight, rrf_k=args.rrf_k)
        pools = [int(c) for c in str(args.candidates).split(",")]
        alone = args.default_candidates if args.default_candidates in pools else pools[-1]
        runs = [
            ("full text", HybridWeights(text=1.0, vector=0.0, rrf_k=args.rrf_k), alone),
            ("vectors", HybridWeights(text=0.0, vector=1.0, rrf_k=args.rrf_k), alone),
            *(("hybrid", hybrid, c) for c in pools),
        ]
        results = []
        for ranking, weights, candidates in runs:
            retriever = HybridRetriever(
                db.pool, embedder=embedder, candidates=candidates, weights=weights,
                per_document=args.per_document, ef_search=args.ef_search,
            )
            await score(retriever, questions[:10], args.k)  # warm the caches once
            default = " (default)" if candidates == args.default_candidates else ""
            name = f"{ranking}, {candidates} candidates{default}"
            scores = await score(retriever, questions, args.k, args.rounds)
            results.append(Result(name, ranking, candidates, scores))
        return ingested, results
    finally:
        await embedder.aclose()
        await db.aclose()


def reading(results: list[Result], default: int) -> str:
    """Each target against the figures at the default candidates, unrounded."""
    lines = []
    for ranking, hit_target, recall_target in (("hybrid", 0.97, 0.85), ("full text", 0.88, 0.64)):
        r = next((r for r in results if r.ranking == ranking and r.candidates == default), None)
        if r is None:
            continue
        hit, recall, _ = r.scores.part(slice(None))
        if hit >= hit_target and recall >= recall_target:
            verdict = "meets its target"
        elif hit >= hit_target and round(recall, 2) >= recall_target:
            verdict = (f"meets its target only at the two decimals it is stated in (recall "
                       f"{recall:.3f} < {recall_target})")
        else:
            verdict = "misses its target"
        lines.append(f"{ranking} at the defaults {verdict}: hit@5 {hit:.2f} / recall@5 "
                     f"{recall:.3f} against {hit_target} / {recall_target}")
    return "; ".join(lines) + "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--model", default=os.environ.get("SWITCHBOARD_EMBEDDING_MODEL", EMBED_MODEL))
    defaults = Settings(_env_file=None)
    parser.add_argument("--chunk-size", type=int, default=defaults.chunk_size)
    parser.add_argument("--chunk-overlap", type=int, default=defaults.chunk_overlap)
    parser.add_argument(
        "--candidates", default=str(defaults.retrieval_candidates),
        help="candidates per ranking; a comma list adds one hybrid row per value",
    )
    parser.add_argument("--rrf-k", type=int, default=defaults.retrieval_rrf_k)
    parser.add_argument("--text-weight", type=float, default=defaults.retrieval_text_weight)
    parser.add_argument("--vector-weight", type=float, default=defaults.retrieval_vector_weight)
    parser.add_argument("--per-document", type=int, default=defaults.retrieval_per_document)
    parser.add_argument("--ef-search", type=int, default=defaults.retrieval_ef_search)
    parser.add_argument("--rounds", type=int, default=3, help="times each question is timed")
    parser.add_argument("--cache", type=Path, default=CACHE, help="folder of remembered vectors")
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    args.default_candidates = defaults.retrieval_candidates
    with ExitStack() as stack, postgres(os.environ.get("BENCH_DATABASE_URL")) as database_url:

        def start_embedder() -> OpenAIEmbedder:
            base_url = stack.enter_context(embedding_server(os.environ.get("OPENAI_BASE_URL")))
            return OpenAIEmbedder(model=args.model, base_url=base_url, batch_size=64)

        ingested, results = asyncio.run(run(args, database_url, start_embedder))
    headers = ("retrieval", f"hit@{args.k}", f"recall@{args.k}", f"MRR@{args.k}",
               "hit / recall on questions 0–49 · 50–99", "p50 ms", "p95 ms")
    result = table(headers, [row(r.name, r.scores) for r in results])
    print(result)
    if args.no_write:
        return
    cached = (
        f" ({ingested.reused} of the texts' vectors reused from an earlier run, so that time is "
        "not the embedding's)" if ingested.reused else ", embeddings included"
    )
    write_section(
        "Retrieval quality (claude-docs)",
        f"""
{ingested.documents} documents of `shared/eval/claude-docs` ingested through our own pipeline
into {ingested.chunks} chunks ({ingested.seconds} s{cached}), then its 100 questions asked. A
question scores the distinct documents among the top {args.k} passages against its
`correct_chunks`.

{result}

Settings: embedding model `{args.model}` (384 dimensions, served by `serve.py` over the
OpenAI API), chunk size {args.chunk_size} / overlap {args.chunk_overlap}, candidates per
ranking as named, RRF k = {args.rrf_k}, weights text {args.text_weight} / vector
{args.vector_weight}, at most {args.per_document} passages per document (the defaults), HNSW
ef_search {args.ef_search}. Full text and vectors alone are the same retriever with the other
ranking's weight set to 0. Times: each question asked {args.rounds} times, the question already
embedded, so they are the SQL round trip plus fusion in Python on this shared machine, not the
embedding model. The two halves (questions 0–49 · 50–99) show how much of a difference is one
half's luck: 100 questions with about two relevant documents each make 0.005 of recall@5 one
document found or missed.

Reading: {reading(results, args.default_candidates)}

What changed, and why (each measured with the other settings fixed):

- *Distinct documents first.* The default allows two passages per document, and a document's
  second passage used to take a slot as soon as it ranked; a long document then pushed other
  documents out of the five. Its further passages now only fill slots no other document
  wants. Hybrid at 40 candidates, two per document: 0.96 / 0.818 before, 0.97 / 0.838 after
  (halves 0.830 → 0.850 and 0.805 → 0.825). This section used to be measured with one passage
  per document, which is not the default; the two now give the same figures here.
- *Words that stand together.* Full text adds, for each adjacent pair of content words in the
  question ("prompt caching", "rate limits"), half the pair's mean IDF times its `ts_rank` as a
  phrase (`phraseto_tsquery`), re-scoring the best 3 × candidates rows. At 100 candidates: full
  text 0.98 / 0.778 / MRR 0.887 → 0.99 / 0.809 / 0.905; hybrid 0.98 / 0.848 → 0.99 / 0.849.
- *40 candidates per ranking (100 before).* With the phrase bonus, hybrid recall@5 at 30 / 40 /
  60 / 100 candidates: 0.849 / 0.854 / 0.849 / 0.849 (MRR 0.887 / 0.890 / 0.889 / 0.897). Honest
  size: 0.854 against 0.849 is one relevant document. 100 had won by the same margin before the
  phrase bonus; 40 is kept because it is as good and less work per question (a walk of
  `ef_search` ≥ candidates, and 80 rows to fetch and tidy instead of 200). RRF k 10 / 20 / 40 ×
  vector weight 0.5 / 0.7 / 1.0 at each of those candidate counts: nothing above 0.854; the
  defaults (20, 0.7) stay.

Tried and not kept earlier (hybrid recall@5 at 40 candidates, before the phrase bonus, against 0.838): fusing per document
instead of per chunk, five variants (0.814–0.828); RRF k 5–60 × vector weight 0.5–1.0 (nothing
above 0.843, and no cell beats the current one on the first half, 0.850, so tuning on one half
and checking on the other picks nothing new); full-text field weights other than title 1.0 / section 0.7 / body 0.5 (0.757–0.829);
`ts_rank` length normalisation (no consistent gain; full-text MRR 0.887 → 0.812); near-duplicate
threshold 0.6 to off and a full-text row budget of 1,000 to unlimited (no change at this size;
300: 0.833); HNSW
ef_search 40–1,000 or exact search (no change). Needing a re-embed: embedding the chunk text
without its title prefix (what `core/ingest` embeds today is "title › section" then the text):
vectors 0.772 → 0.760, hybrid 0.828, so the prefix stays; 200 characters of overlap (hybrid
0.823) or 600-character chunks (0.818) instead of 800 / 100. Of the relevant documents still
missed at the defaults, about half are outside both rankings' top 40 chunks; the other half are
found by one ranking and outranked in the fusion.

Reference on this set (whole documents, no chunking): all-MiniLM-L6-v2 cosine 0.91 / 0.73,
BM25 0.88 / 0.64, a simple RRF of both 0.98 / 0.80 (hit@5 / recall@5). Targets: hybrid ≥ 0.97 /
0.85, full text ≥ 0.88 / 0.64. No held-out set exists: chunk size, RRF k, weights and field
weights were chosen on these same questions earlier, so read every figure as optimistic for
other corpora.

Command: `{command_line()}` · Machine: {machine()}
""",
    )


if __name__ == "__main__":
    main()
