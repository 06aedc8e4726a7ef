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

from bench import REPO, command_line, machine, postgres, table, write_section
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
from core.llm.prompts import PromptBudget, fit_passages, grounded_messages
from core.settings import Settings
from core.text import STOPWORDS
from core.tokens import EstimatingCounter, count_messages

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
                fitted = fit_passages(passages, counter, args.budget)
                prompt_tokens = count_messages(counter, grounded_messages(
                    question=item["question"], passages=fitted, history=(), persona="",
                    contact="", counter=counter, budget=PromptBudget(0, args.budget)))
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


def planted(record: dict[str, Any]) -> tuple[int, int]:
    """(figures planted, figures caught): each number of the answer that a passage holds is
    changed in the passages (as if the model had copied it wrong), and the answer checked again."""
    texts = record["passage_texts"][: record["passages_given"]]
    source = FigureSource([record["question"], *texts])
    planted_count = caught = 0
    model_text = record["text"].split("\n\n_Check ")[0]
    for figure in dict.fromkeys(figures(model_text)):
        if not source.supports(figure) or not any(c.isdigit() for c in figure):
            continue
        wrong = re.sub(r"\d", lambda m: str((int(m.group(0)) + 3) % 10), figure)
        pattern = re.compile(rf"(?<![\d.,]){re.escape(figure).replace(',', ',?')}(?![\d]|[.,]\d)")
        edited = [pattern.sub(wrong, t) for t in texts]
        planted_count += 1
        caught += figure in FigureSource([record["question"], *edited]).unsupported(model_text)
    return planted_count, caught


def report(args: argparse.Namespace) -> None:
    runs = sorted(WORK.glob("answers-*.jsonl"), key=lambda p: int(p.stem.split("-")[1]))
    rows, figure_rows = [], []
    examples: list[str] = []
    for path in runs:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for name in SETS:
            rs = [r for r in records if r["set"] == name and r["status"] != "failed"]
            if not rs:
                continue
            n = len(rs)
            first = [r for r in rs if r["grounding"]["check"] in ("cited", "declined") and not r["grounding"]["reasked"]]
            rescued = [r for r in rs if r["grounding"]["check"] in ("cited", "declined") and r["grounding"]["reasked"]]
            replaced = [r for r in rs if r["grounding"]["check"] == "replaced"]
            down = [r for r in rs if r["grounding"]["check"] == "extractive"]
            loops = sum(1 for r in rs if r["grounding"]["stopped"] == "repetition")
            dropped = sum(len(r["grounding"]["dropped_citations"]) for r in rs)
            shown_bad = sum(hallucinated_citations(r) for r in rs)
            # Reference overlap under each policy: asking again (what ran) against showing the
            # passages at once (the rescued answers would have been the passages instead).
            reask_q = sum(overlap(r["reference"], r["text"]) for r in rs) / n
            reask_times = [r["reask_s"] for r in rs if r["reask_s"] is not None]
            prompt = sum(r["prompt_tokens"] for r in rs) / n
            ttft = sorted(r["ttft_s"] or 0 for r in rs)[n // 2]
            total = sum(r["total_s"] for r in rs) / n
            rows.append((name, path.stem.split("-")[1], n, f"{prompt:.0f}", f"{len(first)}/{n}",
                         f"{len(rescued)}/{n - len(first)}", len(replaced), len(down), loops,
                         dropped, shown_bad, f"{reask_q:.2f}",
                         f"{sum(reask_times) / len(reask_times):.1f}" if reask_times else "–",
                         f"{ttft:.1f}", f"{total:.1f}"))
            cited = [r for r in rs if r["grounding"]["check"] == "cited"]
            fired = sum(1 for r in cited if r["grounding"]["unsupported_figures"])
            p_total = p_caught = 0
            for r in cited:
                p, c = planted(r)
                p_total += p
                p_caught += c
            figure_rows.append((name, path.stem.split("-")[1], len(cited), f"{fired}/{len(cited)}",
                                f"{p_caught}/{p_total}"))
            for r in cited[:1]:
                examples.append(f"- {name}, budget {r['budget']}: *{r['question'][:90]}* → "
                                f"“{r['text'][:220].strip()}”")
    body = [
        f"Machine: {machine()}. Model: SmolLM2-135M-Instruct Q4_1 on llama-cpp-python's server "
        f"(`shared/tools/local-models`), temperature 0.2, answers capped at the `--max-tokens` "
        f"given to `generate`. Passages: top 5 by full text (no embedder) from our own ingestion "
        f"of each set; evenly spaced questions. Commands: `python -m bench.grounding retrieve`, "
        f"`… generate --budget B`, `{command_line()}`.",
        "",
        table(["set", "passage budget", "answers", "prompt tokens", "cited at first",
               "cited when asked again", "replaced by passages", "model gave nothing",
               "loops stopped", "citations dropped", "citations shown matching no passage",
               "reference overlap", "second ask, s", "first text, s (median)", "answer, s (mean)"],
              rows),
        "",
        "Figures (cited answers only): how often an answer carries a figure found in no passage, "
        "and, with each supported figure of those answers changed in the passages, how often the "
        "check names it.",
        "",
        table(["set", "passage budget", "cited answers", "fired", "planted figures caught"], figure_rows),
        "",
        "One cited answer per run, as shown:",
        "",
        *examples,
    ]
    (WORK / "report.md").write_text("\n".join(body))
    print("\n".join(body))
    if not args.no_write:
        write_section("Grounded answers with a small local model", (WORK / "notes.md").read_text()
                      if (WORK / "notes.md").exists() else "\n".join(body))


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
    p = sub.add_parser("report")
    p.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.step == "retrieve":
        asyncio.run(retrieve(args))
    elif args.step == "generate":
        asyncio.run(generate(args))
    else:
        report(args)


if __name__ == "__main__":
    main()
