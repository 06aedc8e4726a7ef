"""Group similar questions: word vectors, a sparse similarity graph, average-linkage clustering.

The clustering works on a similarity graph (pairs of questions and how alike they are), so the
same code serves word vectors computed here and embeddings compared in Postgres. Groups are
merged bottom-up while the average similarity between two groups (weighted by how often each
question was asked) stays above a threshold: a topic's different phrasings join through their
shared words, while two topics that share one incidental word ("office") stay apart. Ties
break on text, so runs are repeatable.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> frozenset[str]:
    """A word list written as text, one set."""
    return frozenset(text.split())


# Words that say nothing about a question's topic. Question words are here on purpose: "how do
# I" starts questions about everything.
_STOPWORDS = words(
    """a about after again all am an and any anyone are as at be been before being between both
    but by can could did do does doing done for from get gets getting got had has have having
    he her here hers him his how i if in into is it its just know let like me might more most
    must my need needs no not now of off on once one only or other our out over please same
    should so some such than thanks that the their them then there these they this those to
    too under until up us use using very want was we were what when where which while who
    whom why will with would yes you your hi hello hey tell show help find where's what's how's
    i'm can't don't doesn't"""
)

SparseVector = dict[str, float]
Graph = list[dict[int, float]]


def stem(word: str) -> str:
    """A light suffix strip, enough to fold plurals and -ing/-ed forms of short questions."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "ls":
                word = word[:-1]  # resetting -> resett -> reset
            return word
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    return [
        stem(w)
        for w in _WORD.findall(text.casefold())
        if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())
    ]


def word_vectors(texts: Sequence[str]) -> list[SparseVector]:
    """Unit-length vectors of each text's topical words (stop words dropped, stems folded).

    Every word weighs the same unless it appears in more than a fifth of the texts: in short
    questions the words a topic's phrasings share are the frequent ones, so a full IDF would
    weigh them down in favour of one-off words and split every topic into its phrasings.
    """
    bags = [set(terms(t)) for t in texts]
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag)
    n = max(len(texts), 1)
    vectors: list[SparseVector] = []
    for bag in bags:
        vec = {t: min(1.0, math.log(n / df[t]) / math.log(5)) if df[t] * 5 > n else 1.0 for t in bag}
        vec = {t: v for t, v in vec.items() if v > 0}
        norm = math.sqrt(sum(v * v for v in vec.values()))
        vectors.append({t: v / norm for t, v in vec.items()} if norm else {})
    return vectors


def sparse_graph(vectors: Sequence[SparseVector], threshold: float) -> Graph:
    """Cosine similarities of at least ``threshold`` between unit sparse vectors, both ways.

    Only pairs that share a term are compared (an inverted index), so short questions cost
    little even by the thousand.
    """
    postings: dict[str, list[int]] = defaultdict(list)
    for i, vec in enumerate(vectors):
        for term in vec:
            postings[term].append(i)
    graph: Graph = [{} for _ in vectors]
    for i, vec in enumerate(vectors):
        scores: dict[int, float] = defaultdict(float)
        for term, weight in vec.items():
            for j in postings[term]:
                if j > i:
                    scores[j] += weight * vectors[j][term]
        for j, score in scores.items():
            if score >= threshold:
                graph[i][j] = score
                graph[j][i] = score
    return graph


def graph_from_pairs(size: int, pairs: Iterable[tuple[int, int, float]]) -> Graph:
    graph: Graph = [{} for _ in range(size)]
    for i, j, score in pairs:
        if i != j:
            graph[i][j] = score
            graph[j][i] = score
    return graph


@dataclass(slots=True)
class Cluster:
    """Indices of similar items, most central first; ``weight`` sums the items' weights."""

    members: list[int]
    weight: float

    @property
    def centre(self) -> int:
        return self.members[0]


def average_linkage(
    graph: Graph,
    weights: Sequence[float],
    threshold: float,
    *,
    tiebreak: Sequence[str] | None = None,
) -> list[Cluster]:
    """Clusters of ``graph`` (item -> {neighbour: similarity}), heaviest first.

    ``weights`` counts how often each item occurred. Pairs missing from the graph count as
    similarity 0. Members are ordered by centrality: weighted similarity to the rest of their
    cluster (their own weight included), then the shorter text.
    """
    n = len(graph)
    keys = list(tiebreak) if tiebreak is not None else [""] * n
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    weight: dict[int, float] = {i: float(weights[i]) for i in range(n)}
    # links[a][b]: the sum of w_i * w_j * sim(i, j) over i in a, j in b.
    links: dict[int, dict[int, float]] = {
        i: {j: weights[i] * weights[j] * s for j, s in graph[i].items() if j != i} for i in range(n)
    }
    heap = [
        (-total / (weight[a] * weight[b]), a, b)
        for a in range(n)
        for b, total in links[a].items()
        if a < b
    ]
    heapq.heapify(heap)
    next_id = n
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # one side was merged since this pair was queued
        if -negative < threshold:
            break
        merged = next_id
        next_id += 1
        members[merged] = members.pop(a) + members.pop(b)
        weight[merged] = weight.pop(a) + weight.pop(b)
        combined: dict[int, float] = defaultdict(float)
        for side, other in ((a, b), (b, a)):
            for x, total in links.pop(side).items():
                if x != other:
                    combined[x] += total
        for x, total in combined.items():
            links[x].pop(a, None)
            links[x].pop(b, None)
            links[x][merged] = total
            heapq.heappush(heap, (-total / (weight[merged] * weight[x]), min(merged, x), max(merged, x)))
        links[merged] = dict(combined)
    clusters = []
    for group in members.values():
        inside = set(group)
        central = {
            i: weights[i] + sum(weights[j] * s for j, s in graph[i].items() if j in inside and j != i)
            for i in group
        }
        ranked = sorted(group, key=lambda i: (-central[i], len(keys[i]), keys[i]))
        clusters.append(Cluster(ranked, sum(weights[i] for i in group)))
    clusters.sort(key=lambda c: (-c.weight, keys[c.centre]))
    return clusters


def majority(values: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in values if v)
    return counts.most_common(1)[0][0] if counts else None
