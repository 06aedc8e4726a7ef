"""Grounded answers from a real small model on the two public evaluation sets.

Three steps, each resumable, so the slow one (the model) runs once:

    python -m bench.grounding retrieve --questions 15           # passages per question (full text)
    python -m bench.grounding generate --model-url http://127.0.0.1:8089/v1 --budget 6000
    python -m bench.grounding report                            # tables -> docs/benchmarks.md

``retrieve`` ingests each set into a throwaway Postgres with our own ingestion and keeps the
top passages of evenly spaced questions. ``generate`` answers them through the product's own
path (``ModelGenerator`` + ``GroundedWriter``: the grounding check, the stricter second ask,
the passages as fallback) against an OpenAI-compatible endpoint, one JSON line per answer.
``report`` scores them: how often the first answer cites, how often asking again rescues it,
figures found in no passage (and, with a figure planted in the passages, how often the check
catches it), citations shown that match no passage (must be 0), the answer's overlap with the
set's reference answer, and time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import REPO, postgres, table
from core.answers import Passage, RouteDecision
from core.console import CollectingReplyStream
from core.extractive import ExtractiveAnswerer
from core.figures import FigureSource, figures
from core.generation import GenerationRequest
from core.grounded_writer import CHECKING, GroundedWriter
from core.grounding import GroundingPolicy
from core.llm.client import ModelClient
from core.llm.generator import ModelGenerator
from core.llm.pricing import PriceTable
from core.llm.prompts import PromptBudget, grounded_prompt
from core.settings import Settings
from core.text import STOPWORDS
from core.tokens import EstimatingCounter

EVAL = REPO.parent / "shared" / "eval"
WORK = Path("/tmp/sbbench-grounding")
SETS = ("claude-docs", "financebench")
_WORD = re.compile(r"[^\W_]+(?:[.,]\d+)*", re.UNICODE)
_SHOWN_MARKER = re.compile(r"\[(\d{1,3})\]")


# -- the sets -----------------------------------------------------------------------------------


def questions(name: str, count: int) -> list[dict[str, str]]:
    """``count`` evenly spaced questions of a set, each with its reference answer."""
    if name == "claude-docs":
        raw = json.loads((EVAL / "claude-docs/evaluation/docs_evaluation_dataset.json").read_text())
        items = [{"id": q["id"], "question": q["question"], "answer": q["correct_answer"]} for q in raw]
    else:
        lines = (EVAL / "financebench-subset/questions.jsonl").read_text().splitlines()
        raw = [json.loads(line) for line in lines if line.strip()]
        items = [{"id": q["id"], "question": q["question"], "answer": q["answer"],
                  "doc": q["gold_doc"]} for q in raw]
    step = max(1, len(items) // count)
    return items[::step][:count]


def _WithoutNul(evalset: Any) -> Any:
    """The set as an ingestion source, its text without NUL characters: some financebench
    pages extract with them and Postgres refuses them (the product's ingestion does not strip
    them yet)."""
    from bench.evalsets import EvalSource

    class Source(EvalSource):
        async def fetch(self, item: Any, *, salt: str) -> Any:
            document = await super().fetch(item, salt=salt)
            document.sections = [
                dataclasses.replace(section, text=section.text.replace("\x00", ""),
                                    heading=section.heading and section.heading.replace("\x00", ""))
                for section in document.sections
            ]
            for f in dataclasses.fields(document):
                value = getattr(document, f.name)
                if isinstance(value, str):
                    setattr(document, f.name, value.replace("\x00", ""))
            return document

    return Source(evalset)


async def retrieve(args: argparse.Namespace) -> None:
    """Top passages by full text for evenly spaced questions of each set (``bench.evalsets``)."""
    from bench.evalsets import EvalSet, load_set
    from core.ingest import Ingestor
    from core.ingest.chunking import Chunker
    from store.database import Database
    from store.knowledge import PgKnowledgeStore
    from store.retrieval import HybridRetriever

    WORK.mkdir(parents=True, exist_ok=True)
    settings = Settings(_env_file=None)
    for name, folder in zip(SETS, ("claude-docs", "financebench-subset"), strict=True):
        asked = questions(name, args.questions)
        evalset = load_set(folder)
        wanted = {q["doc"] for q in asked if "doc" in q}
        if wanted:
            # The filings the asked questions are about: all 30 take long to read here.
            evalset = EvalSet(evalset.name, [d for d in evalset.documents if d.key in wanted],
                              evalset.questions, evalset.has_pages)
        with postgres() as url:
            db = await Database.connect(Settings(_env_file=None, database_url=url))
            try:
                started = time.perf_counter()
                ingestor = Ingestor(PgKnowledgeStore(db.pool), chunker=Chunker(
                    chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap))
                await ingestor.ingest_source(_WithoutNul(evalset))
                print(f"{name}: ingested in {time.perf_counter() - started:.0f} s")
                retriever = HybridRetriever(db.pool, candidates=settings.retrieval_candidates,
                                            per_document=settings.retrieval_per_document)
                out = []
                for q in asked:
                    found = await retriever.search(q["question"], k=settings.retrieval_k)
                    out.append({**q, "passages": [asdict(p) for p in found]})
            finally:
                await db.aclose()
        (WORK / f"passages-{name}.json").write_text(json.dumps(out, indent=1))
        print(f"{name}: {len(out)} questions, passages kept in {WORK}")


# -- answering -----------------------------------------------------------------------------------


class _Recorded:
    """The generator, with every attempt's raw text kept (what the check saw)."""

    def __init__(self, inner: ModelGenerator) -> None:
        self._inner = inner
        self.name = inner.name
        self.attempts: list[str] = []

    async def stream(self, request: GenerationRequest) -> Any:
        self.attempts.append("")
        async for delta in self._inner.stream(request):
            self.attempts[-1] += delta
            yield delta


class _TimedStream(CollectingReplyStream):
    """Collects the answer and notes when the stricter second ask began."""

    def __init__(self) -> None:
        super().__init__()
        self.reask_at: float | None = None

    async def status(self, text: str) -> None:
        await super().status(text)
        if text == CHECKING:
            self.reask_at = time.perf_counter()


async def generate(args: argparse.Namespace) -> None:
    settings = Settings(_env_file=None).model_copy(update={
        "openai_base_url": args.model_url, "chat_model": args.model,
        "model_prompt_tokens_per_s": args.prompt_tokens_per_s,
        "model_first_token_timeout": 20.0, "model_total_timeout": 300.0,
    })
    client = ModelClient.from_settings(settings)
    counter = EstimatingCounter()
    generator = ModelGenerator(
        client, domains=(), prices=PriceTable({}), counter=counter,
        budget=PromptBudget(history_tokens=0, passage_tokens=args.budget),
        max_tokens=args.max_tokens, temperature=settings.temperature,
    )
    recorded = _Recorded(generator)
    writer = GroundedWriter(recorded, fallback=ExtractiveAnswerer(),  # type: ignore[arg-type]
                            policy=GroundingPolicy(), reask=True)
    out_path = WORK / f"answers-{args.budget}.jsonl"
    done = set()
    if out_path.exists():
        done = {(r["set"], r["id"]) for r in map(json.loads, out_path.read_text().splitlines())}
    route = RouteDecision(domains=(), confidence=0.0, router="bench")
    try:
        for name in args.sets.split(","):
            items = json.loads((WORK / f"passages-{name}.json").read_text())[: args.questions]
            for item in items:
                if (name, item["id"]) in done or not item["passages"]:
                    continue
                passages = [Passage(**p) for p in item["passages"]]
                prompt_tokens = grounded_prompt(
                    question=item["question"], passages=passages, history=(), persona="",
                    contact="", counter=counter, budget=PromptBudget(0, args.budget)).tokens
                request = GenerationRequest(question=item["question"], passages=passages, route=route)
                stream = _TimedStream()
                parts: list[str] = []
                started = time.perf_counter()
                recorded.attempts = []
                written = await writer.write(request, stream, parts, started)
                total = time.perf_counter() - started
                text = "".join(parts)
                record = {
                    "set": name, "id": item["id"], "question": item["question"],
                    "reference": item["answer"], "budget": args.budget,
                    "passages_given": len(request.passages), "prompt_tokens": prompt_tokens,
                    "status": written.status, "grounding": written.grounding.to_dict(),
                    "grounded": written.grounding.grounded, "text": text,
                    "ttft_s": None if written.ttft_ms is None else written.ttft_ms / 1000,
                    "total_s": total,
                    "reask_s": None if stream.reask_at is None else time.perf_counter() - stream.reask_at,
                    "passage_texts": [p.text for p in request.passages],
                    "output_tokens": request.usage.output_tokens,
                    "model_attempts": recorded.attempts,
                }
                with out_path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(f"{name} {item['id']}: {written.grounding.check} reasked={written.grounding.reasked} "
                      f"{total:.1f}s figures={written.grounding.unsupported_figures}", flush=True)
    finally:
        await client.aclose()


# -- scoring -------------------------------------------------------------------------------------


def _key_words(text: str) -> set[str]:
    return {w.replace(",", "") for w in (m.lower() for m in _WORD.findall(text))
            if w not in STOPWORDS and len(w) > 2 or any(c.isdigit() for c in w)}


def overlap(reference: str, answer: str) -> float:
    """Share of the reference answer's key words (and numbers) found in the answer."""
    wanted = _key_words(reference)
    return len(wanted & _key_words(answer)) / len(wanted) if wanted else 0.0


def hallucinated_citations(record: dict[str, Any]) -> int:
    """Markers shown that point at no passage given (the check must make this 0)."""
    return sum(1 for n in _SHOWN_MARKER.findall(record["text"])
               if not 1 <= int(n) <= record["passages_given"])


def planted(record: dict[str, Any], model_text: str) -> tuple[int, int]:
    """(figures planted, figures caught): each number of ``model_text`` that a passage holds is
    changed in the passages (as if the model had copied it wrong), and the text checked again."""
    texts = record["passage_texts"][: record["passages_given"]]
    source = FigureSource([record["question"], *texts])
    planted_count = caught = 0
    asked = FigureSource([record["question"]])
    for figure in dict.fromkeys(figures(model_text)):
        # Only figures the passages alone hold: one the question names stays supported by it.
        if not source.supports(figure) or asked.supports(figure) or not any(c.isdigit() for c in figure):
            continue
        wrong = re.sub(r"\d", lambda m: str((int(m.group(0)) + 3) % 10), figure)
        pattern = re.compile(rf"(?<![\d.,]){re.escape(figure).replace(',', ',?')}(?![\d]|[.,]\d)",
                             re.IGNORECASE)  # codes are matched regardless of case
        edited = [pattern.sub(wrong, t) for t in texts]
        planted_count += 1
        caught += figure in FigureSource([record["question"], *edited]).unsupported(model_text)
    return planted_count, caught


def _extractive(record: dict[str, Any]) -> str:
    """The passages answer (what the fallback shows) for a record's question and passages."""
    item = next(i for i in json.loads((WORK / f"passages-{record['set']}.json").read_text())
                if i["id"] == record["id"])
    passages = grounded_prompt(
        question=record["question"], passages=[Passage(**p) for p in item["passages"]],
        history=(), persona="", contact="", counter=EstimatingCounter(),
        budget=PromptBudget(0, record["budget"])).passages
    request = GenerationRequest(question=record["question"], passages=passages,
                                route=RouteDecision((), 0.0, "bench"))

    async def collect() -> str:
        return "".join([d async for d in ExtractiveAnswerer().stream(request)])

    return asyncio.run(collect())


_TAG = re.compile(r"</?\s*passages?\b[^>]*>", re.IGNORECASE)


def _first_fired(record: dict[str, Any]) -> bool:
    """Whether the model's first raw attempt carries a figure found in no passage given (nor
    in their titles and places, nor the question). Echoed passage tags are left out, as the
    check leaves them out of what is shown."""
    item = next(i for i in json.loads((WORK / f"passages-{record['set']}.json").read_text())
                if i["id"] == record["id"])
    given = [Passage(**p) for p in item["passages"][: record["passages_given"]]]
    attempt = _TAG.sub(" ", record["model_attempts"][0] if record["model_attempts"] else "")
    source = FigureSource([record["question"], *(f"{p.title} {p.location}\n{p.text}" for p in given)])
    return bool(source.unsupported(attempt))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def report(args: argparse.Namespace) -> None:
    runs = sorted(WORK.glob("answers-*.jsonl"), key=lambda p: int(p.stem.split("-")[1]))
    rows, policy_rows, figure_rows = [], [], []
    examples: list[str] = []
    for path in runs:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        budget = path.stem.split("-")[1]
        for name in SETS:
            rs = [r for r in records if r["set"] == name]
            if not rs:
                continue
            n = len(rs)
            checks = [r["grounding"]["check"] for r in rs]
            first = [r for r in rs if r["grounding"]["check"] in ("cited", "declined")
                     and not r["grounding"]["reasked"]]
            rescued = [r for r in rs if r["grounding"]["check"] == "cited" and r["grounding"]["reasked"]]
            asked_again = sum(1 for r in rs if r["grounding"]["reasked"])
            loops = sum(1 for r in rs if r["grounding"]["stopped"] == "repetition")
            attributed = sum(1 for r in rs if r["grounding"]["check"] == "cited"
                             and r["grounding"]["attributed_sentences"])
            marked = sum(1 for r in rs for a in r["model_attempts"][:1] if _SHOWN_MARKER.search(a))
            uncited = sum(r["grounding"]["uncited_sentences"] for r in rs)
            rows.append((
                name, budget, n, f"{_mean([r['prompt_tokens'] for r in rs]):.0f}",
                f"{marked}/{n}", f"{len(first)}/{n}", f"{len(rescued)}/{asked_again}",
                checks.count("replaced"), checks.count("declined"), checks.count("extractive"),
                attributed, loops, sum(len(r["grounding"]["dropped_citations"]) for r in rs),
                sum(hallucinated_citations(r) for r in rs), uncited,
                f"{sorted(r['ttft_s'] or 0 for r in rs)[n // 2]:.1f}",
                f"{_mean([r['total_s'] for r in rs]):.1f}",
            ))
            # The two policies on the same answers: what ran (ask again, then the passages), and
            # the passages at once (answers rescued by the second ask become the passages).
            at_once = [r["text"] if r not in rescued else _extractive(r) for r in rs]
            reask_overlap = _mean([overlap(r["reference"], r["text"]) for r in rs])
            extractive_overlap = _mean([overlap(r["reference"], t) for r, t in zip(rs, at_once, strict=True)])
            model_shown = sum(1 for r in rs if r["grounding"]["check"] in ("cited", "declined"))
            extra = [r["reask_s"] for r in rs if r["reask_s"] is not None]
            policy_rows.append((
                name, budget, f"{model_shown}/{n}", f"{len(first)}/{n}",
                f"{reask_overlap:.2f}", f"{extractive_overlap:.2f}",
                f"{_mean(extra):.1f}" if extra else "–",
            ))
            cited = [r for r in rs if r["grounding"]["check"] == "cited"]
            fired = sum(1 for r in cited if r["grounding"]["unsupported_figures"])
            raw_fired = sum(1 for r in rs if _first_fired(r))
            planted_total = caught = 0
            for r in rs:
                for attempt in r["model_attempts"]:
                    p, c = planted(r, attempt)
                    planted_total += p
                    caught += c
            figure_rows.append((name, budget, f"{raw_fired}/{n}", f"{fired}/{len(cited)}",
                                f"{caught}/{planted_total}"))
            for r in cited[:1]:
                examples.append(f"- {name}, budget {budget}: *{r['question'][:90]}* → "
                                f"“{r['text'][:240].strip()}”")
    body = [
        ("| set | passage budget | answers | prompt tokens (our count) | first ask wrote a [n] "
        "| cited at first ask | cited when asked again / asked again | replaced by passages "
        "| declined | model gave nothing | cited by copying (attributed) | loops stopped "
        "| markers dropped | markers shown matching no passage | uncited sentences shown "
        "| first text, s (median) | answer, s (mean) |"),
        *_rows(rows),
        "",
        ("Asking again against showing the passages at once, on the same answers (reference "
        "overlap: share of the set's reference answer's key words and numbers found in the text "
        "shown):"),
        "",
        table(["set", "passage budget", "model text shown (ask again)",
               "model text shown (passages at once)", "reference overlap (ask again)",
               "reference overlap (passages at once)", "second ask, s (mean)"], policy_rows),
        "",
        ("Figures: how often the model's first attempt carries a figure found in no passage given "
        "(nor the question), how often a shown cited answer does (named under it), and, with each "
        "figure of the model's attempts that the passages alone hold changed in the passages (a "
        "planted wrong figure), how often the check names it."),
        "",
        table(["set", "passage budget", "first attempts with one", "cited answers with one",
               "planted figures caught"], figure_rows),
        "",
        "One cited answer per run, as shown:",
        "",
        *examples,
    ]
    (WORK / "report.md").write_text("\n".join(body))
    print("\n".join(body))


def _rows(rows: list[tuple[object, ...]]) -> list[str]:
    width = len(rows[0]) if rows else 0
    return ["|" + "---|" * width] + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    r = sub.add_parser("retrieve")
    r.add_argument("--questions", type=int, default=15)
    g = sub.add_parser("generate")
    g.add_argument("--model-url", default="http://127.0.0.1:8089/v1")
    g.add_argument("--model", default="smollm2")
    g.add_argument("--budget", type=int, default=6000, help="passage tokens in the prompt")
    g.add_argument("--max-tokens", type=int, default=200)
    g.add_argument("--questions", type=int, default=15)
    g.add_argument("--sets", default=",".join(SETS))
    g.add_argument("--prompt-tokens-per-s", type=float, default=None)
    sub.add_parser("report")
    args = parser.parse_args()
    if args.step == "retrieve":
        asyncio.run(retrieve(args))
    elif args.step == "generate":
        asyncio.run(generate(args))
    else:
        report(args)


if __name__ == "__main__":
    main()
