""""I couldn't find that": the coverage threshold, chosen on two document sets.

For each set, the in-scope questions (the set's own) and out-of-scope ones written for it
(``bench/data/out-of-scope-<set>.jsonl``: plausible questions its documents do not answer,
near misses in the same vocabulary among them) are retrieved as the assistant retrieves
them, and the best passage's coverage (``core/coverage.py``) is measured. A threshold
declines an in-scope question below it (a false decline) and answers an out-of-scope one
at or above it (a false answer). The threshold is the one with the lowest mean of the two
rates, averaged over the sets — never chosen per set.

    python -m bench.decline --sample                 # the sample knowledge only (quick)
    python -m bench.decline                          # claude-docs and financebench-subset
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import REPO, command_line, machine, postgres, table, write_section
from core.coverage import DeclinePolicy
from core.retrieval import Retriever
from store.coverage import PgCoverageJudge

DATA = Path(__file__).resolve().parent / "data"
THRESHOLDS = [round(0.05 * i, 2) for i in range(2, 19)]


@dataclass(slots=True)
class Shares:
    """Coverage of each in-scope and out-of-scope question of one set."""

    name: str
    inside: list[float] = field(default_factory=list)
    outside: list[float] = field(default_factory=list)

    def rates(self, threshold: float) -> tuple[float, float]:
        declined = sum(s < threshold for s in self.inside) / max(1, len(self.inside))
        answered = sum(s >= threshold for s in self.outside) / max(1, len(self.outside))
        return declined, answered


def questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]


async def measure(
    retriever: Retriever, judge: PgCoverageJudge, asked: Sequence[str], *, k: int = 5
) -> list[float]:
    policy = DeclinePolicy()
    out = []
    for question in asked:
        passages = await retriever.search(question, k=k)
        coverage = await judge.measure(question, passages[: policy.top])
        out.append(coverage.share if passages else 0.0)
    return out


def choose(sets: Sequence[Shares]) -> float:
    def error(t: float) -> float:
        return sum(sum(s.rates(t)) / 2 for s in sets) / len(sets)

    return min(THRESHOLDS, key=lambda t: (round(error(t), 6), abs(t - 0.5)))


def report(sets: Sequence[Shares], chosen: float, label: str) -> str:
    rows = []
    for t in THRESHOLDS:
        cells: list[object] = [f"{t:.2f}" + (" ←" if t == chosen else "")]
        fds, fas = [], []
        for s in sets:
            fd, fa = s.rates(t)
            fds.append(fd)
            fas.append(fa)
            cells += [f"{fd:.2f}", f"{fa:.2f}"]
        cells += [f"{sum(fds) / len(fds):.2f}", f"{sum(fas) / len(fas):.2f}"]
        rows.append(cells)
    headers = ["threshold"]
    for s in sets:
        headers += [f"{s.name} false decline ({len(s.inside)})", f"{s.name} false answer ({len(s.outside)})"]
    headers += ["mean false decline", "mean false answer"]
    return f"{label}\n\n" + table(headers, rows)


async def sample_shares(url: str) -> Shares:
    """The sample knowledge: its questions from bench/offline_answers' files."""
    from bots.runtime import Runtime
    from core.settings import Settings

    settings = Settings(_env_file=None, database_url=url,
                        data_dir=Path(tempfile.mkdtemp(prefix="sbbench-")), sample_knowledge=None)
    async with await Runtime.start(settings) as runtime:
        await runtime.ingestor.ingest([REPO / "examples" / "knowledge"])
        from store.retrieval import HybridRetriever

        retriever = HybridRetriever(runtime.db.pool)
        judge = PgCoverageJudge(runtime.db.pool)
        inside = questions(DATA / "sample-knowledge-questions.jsonl") + questions(
            DATA / "sample-knowledge-heldout.jsonl")
        outside = questions(DATA / "out-of-scope-sample-knowledge.jsonl")
        shares = Shares("sample", await measure(retriever, judge, inside),
                        await measure(retriever, judge, outside))
        for q, s in zip(inside + outside, shares.inside + shares.outside, strict=True):
            print(f"{s:.2f}  {'in ' if q in inside else 'OUT'}  {q}")
        return shares


def main() -> None:
    from core.observability import configure_logging

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", action="store_true", help="the sample knowledge only")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    configure_logging(level="WARNING", json=False)
    if args.sample:
        with postgres() as url:
            shares = asyncio.run(sample_shares(url))
        print(report([shares], choose([shares]), "sample knowledge, full text"))
        return
    raise SystemExit("the two-set run needs bench/evalsets.py")


if __name__ == "__main__":
    main()
