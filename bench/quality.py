"""Retrieval quality on every evaluation set: ours (full text, vectors, hybrid) against three
tutorial baselines, in one run, with one configuration for all sets.

Each set (``bench.evalsets``) is ingested through our own pipeline into a throwaway database,
then its questions asked. Reported per set: page hit@k where the gold names pages, hit@k,
recall@k and MRR@k; then the mean of each set's headline figure (page hit@k where pages
exist, else hit@k), which is what a default is chosen by. No setting is per set.

    python -m bench.quality                        # both sets; starts serve.py (MiniLM) itself
    python -m bench.quality --sets claude-docs --no-write
    python -m bench.quality --extra claude-docs=bench/data/claude-docs-translated.jsonl

Vectors are remembered by model and exact text in ``--cache``: a rerun embeds only texts it
has not seen, and starts the model server only then. PDF pages are remembered by file hash.
``--log FILE`` appends each run's settings and figures as a JSON line (how docs/benchmarks.md
lists every setting tried).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench import (
    EMBED_MODEL,
    command_line,
    database,
    embedding_server,
    machine,
    postgres_server,
    table,
    write_section,
)
from bench.baselines import Baselines
from bench.evalsets import (
    SETS,
    CachedEmbedder,
    EvalSet,
    Question,
    Totals,
    ingest_set,
    load_questions,
    load_set,
    score_passages,
)
from core.embeddings import OpenAIEmbedder
from core.ingest.chunking import Chunker
from core.settings import Settings
from store.database import Database
from store.retrieval import HybridRetriever, HybridWeights

CACHE = Path("/tmp/sbbench-cache")
OURS = ("full text", "vectors", "hybrid")


@dataclass
class SetResult:
    """One set's figures for each ranking, and what its ingest did."""

    name: str
    has_pages: bool
    documents: int
    chunks: int
    ingest_s: float
    totals: dict[str, Totals] = field(default_factory=dict)
    extra: dict[str, dict[str, Totals]] = field(default_factory=dict)
    search_ms: list[float] = field(default_factory=list)

    def headline(self, ranking: str) -> float:
        mean = self.totals[ranking].mean()
        return mean["page_hit"] if self.has_pages else mean["hit"]


def retriever(db: Database, embedder: CachedEmbedder, args: argparse.Namespace,
              ranking: str) -> HybridRetriever:
    text, vector = {"full text": (1.0, 0.0), "vectors": (0.0, 1.0),
                    "hybrid": (args.text_weight, args.vector_weight)}[ranking]
    return HybridRetriever(
        db.pool, embedder=embedder, candidates=args.candidates,
        weights=HybridWeights(text=text, vector=vector, rrf_k=args.rrf_k),
        per_document=args.per_document, distinct_first=args.distinct_first,
    )


async def ask(
    db: Database, embedder: CachedEmbedder, args: argparse.Namespace, questions: list[Question],
    baselines: Baselines | None, result: SetResult | None = None,
) -> dict[str, Totals]:
    totals = {name: Totals() for name in (*OURS, *(Baselines.names if baselines else ()))}
    vectors = await embedder.embed([q.text for q in questions])
    for ranking in OURS:
        search = retriever(db, embedder, args, ranking)
        for q in questions:
            started = time.perf_counter()
            passages = await search.search(q.text, k=args.k)
            if result is not None and ranking == "hybrid":
                result.search_ms.append((time.perf_counter() - started) * 1000)
            totals[ranking].add(score_passages(passages, q, args.k))
    if baselines is not None:
        for q, vector in zip(questions, vectors, strict=True):
            for name, found in baselines.search(q.text, vector, args.k).items():
                totals[name].add(score_passages(found, q, args.k))
    return totals


async def run_set(
    name: str, server: str, args: argparse.Namespace, start: Callable[[], OpenAIEmbedder],
) -> SetResult:
    evalset: EvalSet = load_set(name)
    embedder = CachedEmbedder(args.model, start, None if args.no_cache else args.cache)
    with database(server) as url:
        db = await Database.connect(Settings(_env_file=None, database_url=url))
        try:
            started = time.perf_counter()
            report = await ingest_set(
                evalset, db.pool, embedder=embedder,
                chunker=Chunker(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap),
            )
            result = SetResult(name, evalset.has_pages, report.added, report.chunks,
                               round(time.perf_counter() - started, 1))
            print(f"{name}: {report.added} documents, {report.chunks} chunks in "
                  f"{result.ingest_s} s ({embedder.embedded} texts embedded, "
                  f"{embedder.reused} from the cache)", flush=True)
            baselines = None if args.no_baselines else await Baselines.build(evalset, embedder)
            result.totals = await ask(db, embedder, args, evalset.questions, baselines, result)
            for set_name, path in args.extra:
                if set_name == name:
                    extra = load_questions(Path(path), evalset)
                    for language in sorted({q.language for q in extra}):
                        subset = [q for q in extra if q.language == language]
                        result.extra[f"{Path(path).stem} ({language})"] = await ask(
                            db, embedder, args, subset, baselines)
            return result
        finally:
            embedder.save()
            await embedder.aclose()
            await db.aclose()


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def set_table(result: SetResult, k: int) -> str:
    rows = []
    for name, totals in result.totals.items():
        m = totals.mean()
        rows.append((("ours: " if name in OURS else "baseline: ") + name,
                     _f(m.get("page_hit")), _f(m.get("hit")), _f(m.get("recall")),
                     _f(m.get("page_rr", m.get("rr")))))
    return table(("retrieval", f"page hit@{k}", f"hit@{k}", f"recall@{k}", f"MRR@{k}"), rows)


def mean_table(results: Sequence[SetResult], k: int) -> str:
    names = list(results[0].totals)
    rows = []
    for name in names:
        figures = [r.headline(name) for r in results]
        rows.append((name, *(f"{f:.3f}" for f in figures), f"{statistics.mean(figures):.3f}"))
    heads = [f"{r.name} ({'page ' if r.has_pages else ''}hit@{k})" for r in results]
    return table(("retrieval", *heads, "mean"), rows)


def extra_table(results: Sequence[SetResult], k: int) -> str:
    rows = []
    for r in results:
        for label, totals in r.extra.items():
            rows.append((f"{r.name}: {label}", len(totals["hybrid"].scores),
                         *(f"{totals[n].mean().get('hit', 0):.2f}" for n in OURS)))
    return table(("questions", "n", *(f"{n} hit@{k}" for n in OURS)), rows) if rows else ""


def settings_line(args: argparse.Namespace) -> str:
    return (f"chunks {args.chunk_size} / {args.chunk_overlap}, candidates {args.candidates}, "
            f"RRF k {args.rrf_k}, weights text {args.text_weight} / vector {args.vector_weight}, "
            f"{args.per_document} per document, distinct documents first "
            f"{'on' if args.distinct_first else 'off'}, embedding model `{args.model}`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Settings(_env_file=None)
    parser.add_argument("--sets", default=",".join(SETS), help="comma list of names or folders")
    parser.add_argument("--extra", action="append", default=[], type=lambda s: s.split("=", 1),
                        help="SET=FILE: further questions about SET's documents (common format)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--model", default=os.environ.get("SWITCHBOARD_EMBEDDING_MODEL", EMBED_MODEL))
    parser.add_argument("--chunk-size", type=int, default=defaults.chunk_size)
    parser.add_argument("--chunk-overlap", type=int, default=defaults.chunk_overlap)
    parser.add_argument("--candidates", type=int, default=defaults.retrieval_candidates)
    parser.add_argument("--rrf-k", type=int, default=defaults.retrieval_rrf_k)
    parser.add_argument("--text-weight", type=float, default=defaults.retrieval_text_weight)
    parser.add_argument("--vector-weight", type=float, default=defaults.retrieval_vector_weight)
    parser.add_argument("--per-document", type=int, default=defaults.retrieval_per_document)
    parser.add_argument("--distinct-first", type=int, choices=(0, 1),
                        default=int(defaults.retrieval_distinct_first))
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--cache", type=Path, default=CACHE, help="folder of remembered vectors")
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh")
    parser.add_argument("--log", type=Path, help="append this run's figures as a JSON line")
    parser.add_argument("--label", default="", help="names this run in --log")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    args.distinct_first = bool(args.distinct_first)
    names = [n for n in args.sets.split(",") if n]
    with ExitStack() as stack, postgres_server(os.environ.get("BENCH_DATABASE_URL")) as server:

        def start_embedder() -> OpenAIEmbedder:
            base_url = stack.enter_context(embedding_server(os.environ.get("OPENAI_BASE_URL")))
            return OpenAIEmbedder(model=args.model, base_url=base_url, batch_size=64)

        async def run_all() -> list[SetResult]:
            return [await run_set(n, server, args, start_embedder) for n in names]

        results = asyncio.run(run_all())
    sections = []
    for r in results:
        sections.append(f"### {r.name}\n\n{r.documents} documents, {r.chunks} chunks.\n\n"
                        f"{set_table(r, args.k)}")
    summary = mean_table(results, args.k)
    extras = extra_table(results, args.k)
    print("\n\n".join(sections) + "\n\n" + summary + ("\n\n" + extras if extras else ""))
    if args.log:
        with args.log.open("a") as out:
            out.write(json.dumps({
                "label": args.label, "settings": settings_line(args),
                "sets": {r.name: {n: t.mean() for n, t in r.totals.items()} for r in results},
                "mean": {n: statistics.mean(r.headline(n) for r in results)
                         for n in results[0].totals},
            }) + "\n")
    if args.no_write:
        return
    write_section(
        "Retrieval quality (every set)",
        f"""
Settings (the defaults, one configuration for every set): {settings_line(args)}.

{chr(10).join(s + chr(10) for s in sections)}
### Mean over the sets (what the default is chosen by)

{summary}

{extras}

Command: `{command_line()}` · Machine: {machine()}
""",
    )


if __name__ == "__main__":
    main()
