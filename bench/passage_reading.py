"""CPU an answer spends reading its passages: counting their tokens for the prompt, the
grounding check's words and figures, the citations' sentences, and the retrieval's
near-duplicate checks of its candidates, with and without what earlier answers read of them.

The same passages come back question after question (a burst about one policy retrieves the
same few chunks), so the product remembers what it read of each one (``core/memo.py``:
a ``Memo`` of tallies for the prompt, ``Readings`` for the grounding check, a ``Memo`` of
``sentence_terms`` for the citations' snippets). This bench
builds answers as the product does, from each evaluation set's chunks (default chunker): a
question takes ``CANDIDATES`` passages from a pool of ``--pool`` chunks, ``grounded_prompt``
fits them to the default budget, a ``GroundingCheck`` reads a streamed answer made of the
kept passages' words (a cited sentence, one copied without a marker, a figure no passage
holds), and ``cite`` picks a snippet of every kept passage for the finished answer's
citations; the retriever tidies each question's ``RANKED`` candidates into passages
(``store/retrieval_tidy.py``: word trigrams of each, remembered by a ``Memo`` of
``shingles_of`` in the product). It reports CPU ms an answer for each step *read afresh* (nothing remembered between
answers) and *remembered* (after a first pass over the pool), the median of three passes of
``--answers`` answers. (Before round thirteen the prompt's last message was also counted
again whole, about the passages' count once more on top of *read afresh*.)

    python -m bench.passage_reading [--answers 400 --pool 300] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from bench import command_line, machine, table, write_section
from bench.evalsets import SETS, load_set
from bench.prompt_tokens import CANDIDATES, chunks_of, tokenizer
from core.answers import Passage
from core.citations import cite
from core.extractive import SentenceTerms, sentence_terms
from core.grounding import GroundingCheck, Readings
from core.ingest.chunking import Chunker
from core.llm.prompts import PromptBudget, grounded_prompt
from core.memo import Memo
from core.settings import Settings
from core.tokens import EstimatingCounter, Tally, TokenCounter
from store.retrieval_tidy import Hit, Shingles, shingles_of, tidy

# A question's candidates before they are tidied into passages (the retriever's pool).
RANKED = 40

_WORDS = re.compile(r"\S+\s*")


def answer_for(passages: Sequence[Passage]) -> list[str]:
    """A streamed answer, word by word: a cited sentence, a copied one without its marker,
    and a figure that no passage holds."""
    first = " ".join(passages[0].text.split()[:14]).rstrip(".")
    copied = " ".join(passages[-1].text.split()[:16]).rstrip(".")
    text = f"{first} [1]. {copied}. It costs 98,765.43 a year [1]."
    return _WORDS.findall(text)


def cpu_ms(work: Callable[[], None], answers: int) -> float:
    """Median CPU ms an answer over three passes of ``work`` (which answers ``answers``)."""
    passes = []
    for _ in range(3):
        started = time.process_time()
        work()
        passes.append((time.process_time() - started) * 1000 / answers)
    return statistics.median(passes)


def measure(
    passages: list[Passage], questions: list[str], counters: dict[str, TokenCounter],
    answers: int, pool: int, seed: int,
) -> dict[str, tuple[float, float]]:
    """Per step, CPU ms an answer read afresh and remembered."""
    rnd = random.Random(seed)
    chosen = rnd.sample(passages, min(pool, len(passages)))
    # Each question gets its own copies of the passages' texts, as rows read from the database
    # are: a remembered text is found by hashing and comparing it, not by its identity.
    offers = [
        (rnd.choice(questions), [replace(p, text=(p.text + " ")[:-1])
                                 for p in rnd.sample(chosen, min(CANDIDATES, len(chosen)))])
        for _ in range(answers)
    ]

    def prompts(
        counter: TokenCounter, tallies: Callable[[str], Tally] | None = None
    ) -> Callable[[], None]:
        def work() -> None:
            for question, offered in offers:
                grounded_prompt(question=question, passages=offered, history=[], persona="",
                                contact="", counter=counter, budget=PromptBudget(),
                                tallies=tallies)
        return work

    kept = [
        grounded_prompt(question=q, passages=o, history=[], persona="", contact="",
                        counter=EstimatingCounter(), budget=PromptBudget()).passages
        for q, o in offers
    ]
    streamed = [answer_for(k) for k in kept]

    def checks(readings: Callable[[], Readings]) -> Callable[[], None]:
        def work() -> None:
            for (question, _), given, words in zip(offers, kept, streamed, strict=True):
                check = GroundingCheck(question, given, readings=readings())
                for word in words:
                    check.feed(word)
                check.close()
        return work

    results: dict[str, tuple[float, float]] = {}
    for name, counter in counters.items():
        tallies = Memo(counter.tally)
        prompts(counter, tallies)()  # the first pass over the pool
        results[f"prompt, {name}"] = (
            cpu_ms(prompts(counter), answers), cpu_ms(prompts(counter, tallies), answers)
        )
    shared = Readings()
    checks(lambda: shared)()
    results["grounding check"] = (
        cpu_ms(checks(lambda: Readings(size=0)), answers), cpu_ms(checks(lambda: shared), answers)
    )
    # The finished answer cites every kept passage: each citation's snippet is chosen.
    cited = [" ".join(f"Sentence [{n}]." for n in range(1, len(k) + 1)) for k in kept]

    def citations(read: Callable[[str], SentenceTerms]) -> Callable[[], None]:
        def work() -> None:
            for (question, _), given, text in zip(offers, kept, cited, strict=True):
                cite(question, text, given, read)
        return work

    memo: Memo[SentenceTerms] = Memo(sentence_terms)
    citations(memo)()
    results["citations"] = (
        cpu_ms(citations(sentence_terms), answers), cpu_ms(citations(memo), answers)
    )
    # The retriever's tidying: each question's candidates (both rankings, fused) checked for
    # near duplicates and merged into the passages it shows.
    ranked = [
        [_hit(p, rank) for rank, p in enumerate(rnd.sample(chosen, min(RANKED, len(chosen))), 1)]
        for _ in range(answers)
    ]

    def tidying(read: Shingles) -> Callable[[], None]:
        def work() -> None:
            for hits in ranked:
                tidy(hits, {h.chunk_id: 1.0 / h.rank for h in hits}, 6, 5, shingles=read)
        return work

    trigrams: Memo[frozenset[int]] = Memo(shingles_of)
    tidying(trigrams)()
    results["retrieval's tidying"] = (
        cpu_ms(tidying(shingles_of), answers), cpu_ms(tidying(trigrams), answers)
    )
    return results


def _hit(passage: Passage, rank: int) -> Hit:
    """``passage`` as a ranking returns it, with a copy of its text (as a row read anew)."""
    return Hit(
        chunk_id=passage.chunk_id, branch="text", rank=rank, document_id=passage.document_id,
        ord=passage.chunk_id, title=passage.title, text=(passage.text + " ")[:-1],
        domain=passage.domain, url=passage.url, path=passage.path, section=passage.section,
        page_start=passage.page_start, page_end=passage.page_end, main_page=passage.main_page,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=400, help="answers a pass")
    parser.add_argument("--pool", type=int, default=300, help="chunks the questions draw from")
    parser.add_argument("--documents", type=int, default=6, help="files (PDFs) read per set")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    counters: dict[str, TokenCounter] = {"estimate": EstimatingCounter(), "cl100k_base": tokenizer()}
    settings = Settings()
    chunker = Chunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    rows: list[list[object]] = []
    means: dict[str, list[tuple[float, float]]] = {}
    for name in SETS:
        evalset = load_set(name)
        print(f"{name}: reading and chunking its documents…", file=sys.stderr, flush=True)
        passages = await chunks_of(evalset, args.documents, chunker)
        questions = [q.text for q in evalset.questions] or ["What does this say?"]
        for step, (afresh, remembered) in measure(
            passages, questions, counters, args.answers, args.pool, args.seed
        ).items():
            rows.append([name, step, f"{afresh:.3f}", f"{remembered:.3f}",
                         f"{remembered / afresh:.2f}"])
            means.setdefault(step, []).append((afresh, remembered))
    for step, pairs in means.items():
        afresh = statistics.mean(a for a, _ in pairs)
        remembered = statistics.mean(r for _, r in pairs)
        rows.append(["mean over the sets", step, f"{afresh:.3f}", f"{remembered:.3f}",
                     f"{remembered / afresh:.2f}"])
    report = table(
        ["set", "step", "CPU ms an answer, read afresh", "remembered", "ratio"], rows
    )
    print(report)
    if not args.no_write:
        write_section(
            "Passage reading: token counts, the grounding check, citations and tidying",
            "\n\n".join([
                f"`{command_line()}` on {machine()}.",
                (
                    f"Questions take {CANDIDATES} passages from a pool of {args.pool} chunks of "
                    "each set (default chunker); the prompt is fitted to the default budget, "
                    "the grounding check reads a streamed answer made of the kept passages' "
                    "words, and every kept passage is cited (a snippet chosen for each); "
                    f"the retriever tidies each question's {RANKED} candidates into passages "
                    "(near duplicates by word trigrams). "
                    "*Read afresh*: nothing remembered between answers; *remembered*: "
                    "after one pass over the pool, as in a burst of questions about the same "
                    f"documents. Median of three passes of {args.answers} answers."
                ),
                report,
            ]),
        )


if __name__ == "__main__":
    asyncio.run(main())
