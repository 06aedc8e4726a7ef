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
from typing import TYPE_CHECKING

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
from bench.evalsets import (
    EVAL_ROOT,
    SETS,
    CachedEmbedder,
    EvalDocument,
    EvalSet,
    EvalSource,
    Question,
    Totals,
    ingest_set,
    load_questions,
    load_set,
    score_passages,
)
from core.embeddings import OpenAIEmbedder
from core.ingest.chunking import Chunker
from core.routing import Domain, LexicalRouter, search_scope
from core.settings import Settings
from store.database import Database
from store.retrieval import HybridRetriever, HybridWeights

if TYPE_CHECKING:  # the baselines need numpy and LangChain, which only their runs install
    from bench.baselines import Baselines

CACHE = Path("/tmp/sbbench-cache")
EVAL = EVAL_ROOT / "claude-docs"


class EvalDocuments(EvalSource):
    """claude-docs' entries as a source (for bench/ingest_throughput.py)."""

    def __init__(self, entries: list[dict[str, str]]) -> None:
        super().__init__(EvalSet("claude-docs", [
            EvalDocument(key=e["chunk_link"], title=e["chunk_heading"], text=e["text"])
            for e in entries
        ], []))
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
    routes: dict[str, float] = field(default_factory=dict)
    sweep: dict[str, dict[str, Totals]] = field(default_factory=dict)
    search_ms: list[float] = field(default_factory=list)

    def headline(self, ranking: str) -> float:
        mean = self.totals[ranking].mean()
        return mean["page_hit"] if self.has_pages else mean["hit"]


def retriever(db: Database, embedder: CachedEmbedder | None, args: argparse.Namespace,
              ranking: str) -> HybridRetriever:
    text, vector = {"full text": (1.0, 0.0), "vectors": (0.0, 1.0),
                    "hybrid": (args.text_weight, args.vector_weight)}[ranking]
    return HybridRetriever(
        db.pool, embedder=embedder, candidates=args.candidates,
        weights=HybridWeights(text=text, vector=vector, rrf_k=args.rrf_k),
        per_document=args.per_document, distinct_first=args.distinct_first,
        repeat_decay=args.repeat_decay,
    )


async def ask(
    db: Database, embedder: CachedEmbedder | None, args: argparse.Namespace,
    questions: list[Question], baselines: Baselines | None, result: SetResult | None = None,
    only: Sequence[str] | None = None,
) -> dict[str, Totals]:
    rankings = OURS if embedder is not None else OURS[:1]
    rankings = tuple(r for r in rankings if only is None or r in only)
    names: tuple[str, ...] = () if baselines is None else (
        tuple(baselines.names) if embedder is not None else tuple(baselines.names[:1]))
    totals = {name: Totals() for name in (*rankings, *names)}
    vectors: list[list[float] | None] = (
        list(await embedder.embed([q.text for q in questions])) if embedder is not None
        else [None] * len(questions)
    )
    for ranking in rankings:
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
    evalset: EvalSet = load_set(name).sample(dict(args.sample).get(name, 1))
    embedder = None if args.text_only else CachedEmbedder(
        args.model, start, None if args.no_cache else args.cache)
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
                  f"{result.ingest_s} s", flush=True)
            baselines = None
            if not args.no_baselines:
                from bench.baselines import Baselines
                baselines = await Baselines.build(evalset, embedder)
            result.totals = await ask(db, embedder, args, evalset.questions, baselines, result)
            single: set[tuple[object, ...]] = set()
            for label, variant in sweep_variants(args):
                # A ranking alone does not change with the fusion's k or weights: once per rest.
                key = (variant.candidates, variant.per_document, variant.repeat_decay)
                only = ("hybrid",) if key in single else None
                single.add(key)
                result.sweep[label] = await ask(db, embedder, variant, evalset.questions, None,
                                                only=only)
            if any(q.domain for q in evalset.questions):
                result.routes = await routes(
                    db, embedder, args, evalset,
                    result.totals["hybrid" if embedder is not None else "full text"])
            for set_name, path in args.extra:
                if set_name == name:
                    extra = load_questions(Path(path), evalset)
                    for language in sorted({q.language for q in extra}):
                        subset = [q for q in extra if q.language == language]
                        result.extra[f"{Path(path).stem} ({language})"] = await ask(
                            db, embedder, args, subset, baselines)
            return result
        finally:
            if embedder is not None:
                await embedder.aclose()
            await db.aclose()


SWEPT = {"candidates": int, "rrf_k": int, "text_weight": float, "vector_weight": float,
         "per_document": int, "repeat_decay": float}


def sweep_variants(args: argparse.Namespace) -> list[tuple[str, argparse.Namespace]]:
    """Each combination of ``--sweep``'s values, as the arguments it changes (one ingest,
    several rankings: fusion settings are compared on the same chunks)."""
    combos: list[dict[str, object]] = [{}]
    for part in args.sweep.split():
        name, values = part.split("=", 1)
        kind = SWEPT[name.replace("-", "_")]
        combos = [{**c, name.replace("-", "_"): kind(v)} for c in combos for v in values.split(",")]
    if combos == [{}]:
        return []
    return [(" ".join(f"{n}={v}" for n, v in c.items()), argparse.Namespace(**{**vars(args), **c}))
            for c in combos]


def sweep_table(results: Sequence[SetResult], k: int) -> str:
    """Each swept combination's headline figure per set and ranking, and the mean."""
    rows = []
    for label in results[0].sweep:
        for ranking in results[0].sweep[label]:
            if not all(ranking in r.sweep[label] for r in results):
                continue
            figures = []
            for r in results:
                m = r.sweep[label][ranking].mean()
                figures.append(m["page_hit"] if r.has_pages else m["hit"])
            rows.append((label, ranking, *(f"{f:.3f}" for f in figures),
                         f"{statistics.mean(figures):.3f}"))
    heads = [f"{r.name} ({'page ' if r.has_pages else ''}hit@{k})" for r in results]
    return table(("settings", "retrieval", *heads, "mean"), rows) if rows else ""


# The assistant filters by the route only at or above this confidence (core/assistant.py).
CONFIDENT = 0.5


def set_domains(evalset: EvalSet) -> list[Domain]:
    """A set's route labels as domains, described by their documents' titles only (no
    question is looked at), the way an admin would describe a domain."""
    titles: dict[str, list[str]] = {}
    for d in evalset.documents:
        titles.setdefault(d.domain, []).append(d.title)
    return [Domain(name=name, description=name.replace("_", " "), sources=(name,), persona="",
                   examples=tuple(t)) for name, t in sorted(titles.items())]


async def routes(db: Database, embedder: CachedEmbedder | None, args: argparse.Namespace,
                 evalset: EvalSet, unrouted: Totals) -> dict[str, float]:
    """Route accuracy with the lexical router over the set's labels, and hybrid's headline
    figure when a confident route filters the search, against the same search unfiltered."""
    domains = set_domains(evalset)
    router = LexicalRouter(domains)
    search = retriever(db, embedder, args, "hybrid" if embedder is not None else "full text")
    labelled = [(i, q) for i, q in enumerate(evalset.questions) if q.domain]
    right = confident = wrong_confident = 0
    routed, plain, lost = Totals(), Totals(), 0.0
    for i, q in labelled:
        decision = await router.route(q.text)
        right += decision.primary == q.domain
        scope = search_scope(domains, decision, confident=CONFIDENT)
        confident += bool(scope)
        wrong_confident += bool(scope) and q.domain not in decision.domains
        found = await search.search(q.text, k=args.k, domains=scope) if scope else None
        before = unrouted.scores[i]
        after = score_passages(found, q, args.k) if found is not None else before
        routed.add(after)
        plain.add(before)
        key = "page_hit" if evalset.has_pages else "hit"
        lost += (getattr(before, key) or 0) - (getattr(after, key) or 0)
    key = "page_hit" if evalset.has_pages else "hit"
    n = len(labelled)
    return {"questions": n, "accuracy": right / n, "confident": confident / n,
            "wrong_confident": wrong_confident / n, "unrouted": plain.mean()[key],
            "routed": routed.mean()[key], "lost": lost / n}


def route_table(results: Sequence[SetResult], k: int) -> str:
    rows = [(r.name, int(r.routes["questions"]), f"{r.routes['accuracy']:.2f}",
             f"{r.routes['confident']:.2f}", f"{r.routes['wrong_confident']:.2f}",
             f"{r.routes['unrouted']:.3f}", f"{r.routes['routed']:.3f}")
            for r in results if r.routes]
    return table(("set", "labelled questions", "route accuracy", "confident share",
                  "confident and wrong", f"hybrid hit@{k} (page hit where pages), unrouted",
                  f"routed (filter when confident ≥ {CONFIDENT})"), rows) if rows else ""


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
            rows.append((f"{r.name}: {label}", len(totals["full text"].scores),
                         *(f"{totals[n].mean().get('hit', 0):.2f}" if n in totals else "–"
                           for n in OURS)))
    return table(("questions", "n", *(f"{n} hit@{k}" for n in OURS)), rows) if rows else ""


def settings_line(args: argparse.Namespace) -> str:
    return (f"chunks {args.chunk_size} / {args.chunk_overlap}, candidates {args.candidates}, "
            f"RRF k {args.rrf_k}, weights text {args.text_weight} / vector {args.vector_weight}, "
            f"{args.per_document} per document, distinct documents first "
            f"{'on' if args.distinct_first else 'off'}, repeat decay {args.repeat_decay}, "
            f"embedding model `{args.model}`")


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
    parser.add_argument("--repeat-decay", type=float, default=defaults.retrieval_repeat_decay)
    parser.add_argument("--sweep", default="",
                        help='fusion settings to compare on one ingest, e.g. '
                             '"rrf_k=20,60 vector_weight=0.7,1 repeat_decay=0.5,1"')
    parser.add_argument("--sample", action="append", default=[],
                        type=lambda s: (s.split("=", 1)[0], int(s.split("=", 1)[1])),
                        help="SET=N: every Nth document of SET and its questions (bounded runs)")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--text-only", action="store_true",
                        help="no embeddings: full text and BM25 only (fast chunking sweeps)")
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
            # One request at a time, and patient: a shared machine's CPU model may queue.
            return OpenAIEmbedder(model=args.model, base_url=base_url, batch_size=64,
                                  concurrency=1, timeout=600.0)

        async def run_all() -> list[SetResult]:
            return [await run_set(n, server, args, start_embedder) for n in names]

        results = asyncio.run(run_all())
    sections = []
    for r in results:
        sections.append(f"### {r.name}\n\n{r.documents} documents, {r.chunks} chunks.\n\n"
                        f"{set_table(r, args.k)}")
    summary = mean_table(results, args.k)
    extras = extra_table(results, args.k)
    routing = route_table(results, args.k)
    swept = sweep_table(results, args.k)
    if swept:
        print(swept + "\n")
    print("\n\n".join(sections) + "\n\n" + summary + ("\n\n" + extras if extras else "")
          + ("\n\n" + routing if routing else ""))
    if args.log:
        with args.log.open("a") as out:
            out.write(json.dumps({
                "label": args.label, "settings": settings_line(args),
                "sets": {r.name: {n: t.mean() for n, t in r.totals.items()} for r in results},
                "mean": {n: statistics.mean(r.headline(n) for r in results)
                         for n in results[0].totals},
                "sweep": {r.name: {label: {n: t.mean() for n, t in totals.items()}
                                   for label, totals in r.sweep.items()} for r in results},
            }) + "\n")
    if args.no_write:
        return
    write_section(
        "Retrieval quality (every set): last run",
        f"""
Settings (the defaults, one configuration for every set): {settings_line(args)}.

{chr(10).join(s + chr(10) for s in sections)}
### Mean over the sets (what the default is chosen by)

{summary}

{extras}

### Routing

{routing}

Command: `{command_line()}` · Machine: {machine()}
""",
    )


if __name__ == "__main__":
    main()
