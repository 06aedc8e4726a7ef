"""Offline answers that carry the fact: questions about the sample knowledge, asked through
the real pipeline with no model configured (embedded Postgres, ingest of
``examples/knowledge``, the ``Assistant`` with the extractive answerer — what ``switchboard
ask`` does), each checked for the fact a person needs.

    python -m bench.offline_answers                  # both question files, writes its section
    python -m bench.offline_answers --show-misses --no-write

Each line of a questions file is ``{"question": ..., "facts": [...]}``, optionally with
``"any": [[...], ...]`` (at least one of each group). An answer carries the fact when every
string of ``facts`` appears in its text (case, Markdown emphasis and spacing aside). Answers
that decline ("not_found") carry nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import REPO, command_line, machine, postgres, table, write_section
from bots.runtime import Runtime
from core.answers import Answer
from core.console import CollectingReplyStream
from core.events import ChatEvent, ConversationKind, Person, ThreadRef
from core.observability import configure_logging
from core.settings import Settings

DATA = Path(__file__).resolve().parent / "data"
SETS = {
    "development": DATA / "sample-knowledge-questions.jsonl",
    "held-out": DATA / "sample-knowledge-heldout.jsonl",
}
KNOWLEDGE = REPO / "examples" / "knowledge"


@dataclass(frozen=True, slots=True)
class Case:
    question: str
    facts: tuple[str, ...]
    any_of: tuple[tuple[str, ...], ...] = ()
    locale: str | None = None


def load_cases(path: Path) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            cases.append(Case(
                question=item["question"],
                facts=tuple(item.get("facts", ())),
                any_of=tuple(tuple(group) for group in item.get("any", ())),
            ))
    return cases


def normalized(text: str) -> str:
    text = re.sub(r"[*_`]", "", text.lower())
    return re.sub(r"\s+", " ", text)


def holds(text: str, case: Case) -> bool:
    text = normalized(text)
    return all(normalized(f) in text for f in case.facts) and all(
        any(normalized(f) in text for f in group) for group in case.any_of
    )


def carries(answer: Answer, case: Case) -> bool:
    return answer.status == "complete" and holds(answer.text, case)


def retrieved(answer: Answer, case: Case) -> bool:
    """The fact is in one of the passages retrieved (what the answer could have quoted)."""
    return any(holds(p.text, case) for p in answer.sources)


def _event(question: str, n: int) -> ChatEvent:
    return ChatEvent(
        person=Person(platform="bench", workspace_id="local", user_id="bench"),
        thread=ThreadRef(platform="bench", workspace_id="local", channel_id="bench",
                         thread_id=f"q{n}", kind=ConversationKind.DM),
        text=question,
    )


async def run(
    url: str, sets: dict[str, list[Case]], show: bool, show_all: bool
) -> dict[str, tuple[int, int, int, int, float]]:
    settings = Settings(
        _env_file=None, database_url=url, data_dir=Path(tempfile.mkdtemp(prefix="sbbench-")),
        sample_knowledge=None, rate_limit_burst=0,
    )
    results: dict[str, tuple[int, int, int, int, float]] = {}
    async with await Runtime.start(settings) as runtime:
        report = await runtime.ingestor.ingest([KNOWLEDGE])
        assert not report.failed, report.failed
        n = 0
        for name, cases in sets.items():
            good = found = good_found = 0
            started = time.perf_counter()
            for case in cases:
                n += 1
                answer = await runtime.assistant.handle(_event(case.question, n), CollectingReplyStream())
                ok = carries(answer, case)
                there = retrieved(answer, case)
                good += ok
                found += there
                good_found += ok and there
                if show_all or (show and not ok):
                    mark = "ok  " if ok else "MISS"
                    print(f"\n=== {mark} [{name}] {case.question}  (facts: {case.facts} {case.any_of})")
                    print(answer.text)
                    for k, p in enumerate(answer.sources, start=1):
                        has = all(normalized(f) in normalized(p.text) for f in case.facts)
                        print(f"   [{k}] {'HAS ' if has else '    '}{p.title} › {p.section}")
            results[name] = (good, len(cases), found, good_found,
                             (time.perf_counter() - started) / max(1, len(cases)))
    return results


CHANGES = """\
**This release.** The last figures were 0.86 (48 of 56, development); on this release's
starting code the same run gave 0.82 (46 of 56). Four changes, none aimed at one question:

- *A figure of the asked kind comes first.* "What time" wants a clock time, "how long" a
  duration, "how much" an amount, "when" a date; a unit holding one is preferred to a unit
  holding any number ("Arrive at 09:30" over "4 times basic salary … from your first day").
- *The heading a unit sits under counts more than the title around it* (0.8 of the unit's own
  words against 0.5): "Partner leave (UK)" over "Partners … receive 6 weeks at full basic
  salary". A paragraph under a heading that names what was asked ("Error MFA-112") is quoted
  on, up to three sentences, so "the block lifts after 30 minutes" comes with the error's
  meaning. A "how do I" answer that lands on a sentence brings the numbered steps under the
  same heading.
- *Word matching folds a final "e" and "-al"*, as it already folded "-ing" and "-ed": "arrive"
  meets "arrival" and "arriving", "include" meets "including".
- *A wrong route no longer declines.* When the route's domains hold nothing relevant, every
  domain is searched before the answer says the documents are silent (`core/assistant.py`):
  "What is the first response time for a P1 ticket?" was routed to HR and declined; the IT
  Help Hub's page answers it.

The 4 development misses left: 3 are routing's (the lexical router sends "payday", "book
international trips" and "hybrid associates … in the office" to HR with confidence 0.50, just
at the filter's threshold, and HR's documents answer them wrongly but well enough not to be
declined), 1 the answerer's (the phishing steps sit in a list whose items share no word with
the question; another section's step that does wins).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), action="append")
    parser.add_argument("--show-misses", action="store_true", help="print answers without the fact")
    parser.add_argument("--show-all", action="store_true", help="print every answer")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    configure_logging(level="WARNING", json=False)
    chosen = {name: load_cases(SETS[name]) for name in (args.set or SETS)}
    with postgres() as url:
        results = asyncio.run(run(url, chosen, args.show_misses, args.show_all))
    rows = [
        (name, total, good, f"**{good / total:.2f}**", found,
         f"{good_found / found:.2f}" if found else "–")
        for name, (good, total, found, good_found, _) in results.items()
    ]
    report = table(("questions", "asked", "answer carries the fact", "share",
                    "fact in a retrieved passage", "share of those carried"), rows)
    print(report)
    if not args.no_write and set(results) == set(SETS):
        write_section(
            "Offline answers (no model)",
            "Questions an associate would ask about the sample knowledge (`examples/knowledge`), "
            "each with the fact the answer must carry, asked through the real pipeline with no "
            "model configured: embedded Postgres, full text only, the lexical router, the "
            "extractive answerer (`switchboard ask`). The development questions "
            "(`bench/data/sample-knowledge-questions.jsonl`) were used while building the "
            "answerer; the held-out ones (`bench/data/sample-knowledge-heldout.jsonl`) were "
            "written at the same time and kept out of the rule-making, but they ran alongside, "
            "and one change (a table row's key counts only when it tells the row apart) came "
            "after a held-out miss: read its figure as optimistic. Before this work the same "
            "questions scored 0.52 (development) and 0.71 (held-out). *Fact in a retrieved passage* "
            "counts the questions whose fact is in one of the five passages retrieved: what "
            "the answerer could have quoted; the rest are retrieval's misses (a declined "
            "question carries nothing).\n\n"
            f"{report}\n\n`{command_line()}` — {machine()}.\n\n" + CHANGES,
        )


if __name__ == "__main__":
    main()
