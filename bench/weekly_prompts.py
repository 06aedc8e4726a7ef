"""How long weekly-prompts takes to group a week's questions without embeddings (pure Python).

    python -m bench.weekly_prompts

Questions are the test topics' phrasings with a random tail of ordinary words, so that almost
every question is distinct (the worst case: nothing collapses by de-duplication).
"""

from __future__ import annotations

import random
import time

from core.clustering import average_linkage, sparse_graph, word_vectors
from jobs.weekly_prompts import LEXICAL_SIMILARITY, _Questions
from store.prompts import AskedQuestion
from tests.jobs.seed import TOPICS, topic_of

TAILS = ("today", "again", "now", "for my team", "at home", "on monday", "this week", "from the office")


def questions(n: int, seed: int = 1) -> list[AskedQuestion]:
    rng = random.Random(seed)
    weights = [t.size for t in TOPICS]
    asked = []
    for _ in range(n):
        topic = rng.choices(TOPICS, weights)[0]
        tail = " ".join(rng.sample(TAILS, rng.randint(0, 4)))
        asked.append(AskedQuestion(f"{rng.choice(topic.phrasings)} {tail}", rng.randrange(500), None))
    return asked


def main() -> None:
    print(f"{'questions':>9} {'distinct':>8} {'groups':>6} {'top-9 topics right':>18} {'seconds':>8}")
    for n in (300, 2000, 5000):
        asked = questions(n)
        started = time.perf_counter()
        found = _Questions.of(asked)
        graph = sparse_graph(word_vectors(found.texts), 0.0)
        clusters = average_linkage(graph, found.counts, LEXICAL_SIMILARITY, tiebreak=found.texts)
        seconds = time.perf_counter() - started
        top = {topic_of(found.texts[c.centre]) for c in clusters[:9]}
        right = len(top & {t.name for t in sorted(TOPICS, key=lambda t: -t.size)[:9]})
        print(f"{n:>9} {len(found.texts):>8} {len(clusters):>6} {right:>16}/9 {seconds:>8.2f}")


if __name__ == "__main__":
    main()
