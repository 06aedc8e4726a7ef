"""weekly-prompts: turn last week's questions into the nine prompts users are offered.

Last week's user questions are grouped by meaning (embeddings when configured, TF-IDF words
otherwise); the largest groups asked by more than one person each give one prompt — phrased by
the model when one is configured, else the group's most central real question that reads well
as a prompt. With too few questions nothing is stored, and last week's prompts (or the
configured defaults) stay.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from psycopg_pool import AsyncConnectionPool

from core.clustering import (
    Cluster,
    average_linkage,
    graph_from_pairs,
    majority,
    sparse_graph,
    terms,
    word_vectors,
    words,
)
from core.errors import ModelError
from core.ingest.pipeline import Embedder
from jobs.registry import JobResult
from jobs.writing import ChatModel, complete, json_list
from store.prompts import AskedQuestion, PromptStore, SuggestedPrompt, week_of
from store.similarity import similar_pairs

log = structlog.get_logger(__name__)

MAX_CHARS = 60  # a prompt is strictly shorter than this
# The average similarity two groups need to merge, for word vectors of short questions. Measured
# on tests/jobs/seed.py: 0.15-0.25 recover its topics; lower merges topics that share a word,
# higher splits a topic by phrasing.
LEXICAL_SIMILARITY = 0.2
# With embeddings only pairs at least this much below the threshold are fetched; the rest count
# as unrelated (their share of an average is small, and fetching every pair costs n squared).
EMBEDDING_FLOOR_MARGIN = 0.25
# A group must have been asked this often, by this many different people: a prompt shown to
# everyone must never be one person's (possibly private) question.
# Two prompts this alike in their words ("Reset my password" / "How do I reset my password?")
# are one prompt shown twice: the later group's next question, or the group, is skipped.
NEAR_DUPLICATE = 0.6
MIN_GROUP_QUESTIONS = 3
MIN_GROUP_PEOPLE = 2

_QUESTION_START = words(
    "how what when where which who whom whose why can could do does did is are am was were "
    "will would should shall may might has have"
)
# Greetings and fillers that open a question but say nothing about it.
_FILLER = re.compile(
    r"^(?:\s*(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening))(?:\s+(?:there|team|all))?"
    r"|(?:a )?(?:quick|short) question|urgent|question)\s*[,.!:;-]*\s*)+",
    re.IGNORECASE,
)
# Things that make a real question unfit to show everyone: addresses, links, mentions, ids.
_PRIVATE = re.compile(
    r"(\S+@\S+\.\w+|https?://|www\.|<[@#!][^>]*>|@\w|\d{4,}|[\r\n])", re.IGNORECASE
)


_LOWER_I = re.compile(r"\bi\b(?=$|[\s'’,?!.])")


def tidy(text: str) -> str:
    """A question as a prompt: one line, capitalised, a question mark when it asks."""
    text = " ".join(text.split()).strip(" \"'`")
    if not text:
        return text
    text = text[0].upper() + text[1:]
    text = _LOWER_I.sub("I", text)
    first = text.split(" ", 1)[0].casefold().rstrip(",")
    if text[-1] not in "?.!" and first in _QUESTION_START:
        text += "?"
    return text


def presentable(text: str) -> bool:
    """Short, a real sentence, and free of anything personal."""
    return len(text) < MAX_CHARS and len(text.split()) >= 3 and not _PRIVATE.search(text)


def _key(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip("?.! ")


@dataclass(slots=True)
class _Group:
    """The unique questions of one cluster, most central first, and who asked them."""

    texts: list[str]
    questions: int
    people: int
    domain: str | None
    prompt: str | None = None  # the model's phrasing, when it gave a usable one


@dataclass(slots=True)
class _Questions:
    texts: list[str] = field(default_factory=list)  # unique, by normalised key
    counts: list[float] = field(default_factory=list)
    people: list[set[int]] = field(default_factory=list)
    domains: list[Counter[str]] = field(default_factory=list)

    @classmethod
    def of(cls, asked: Sequence[AskedQuestion]) -> _Questions:
        found = cls()
        index: dict[str, int] = {}
        variants: list[Counter[str]] = []  # how each question was written, to pick the usual
        for question in asked:
            text = _FILLER.sub("", " ".join(question.text.split()))
            key = _key(text)
            if not key or key.startswith("/"):
                continue
            if key not in index:
                index[key] = len(found.texts)
                found.texts.append(text)
                found.counts.append(0.0)
                found.people.append(set())
                found.domains.append(Counter())
                variants.append(Counter())
            i = index[key]
            found.counts[i] += 1
            variants[i][text] += 1
            if question.user_id is not None:
                found.people[i].add(question.user_id)
            if question.domain:
                found.domains[i][question.domain] += 1
        for i, written in enumerate(variants):
            # The most usual spelling; between equals, the one that starts with a capital.
            found.texts[i] = max(written, key=lambda t: (written[t], t[:1].isupper(), t))
        return found


def _lexical_clusters(found: _Questions) -> list[Cluster]:
    graph = sparse_graph(word_vectors(found.texts), 0.0)
    return average_linkage(graph, found.counts, LEXICAL_SIMILARITY, tiebreak=found.texts)


class WeeklyPrompts:
    """The weekly-prompts job. Call it (no arguments) to run once."""

    def __init__(
        self,
        prompts: PromptStore,
        *,
        pool: AsyncConnectionPool,
        embedder: Embedder | None = None,
        model: ChatModel | None = None,
        count: int = 9,
        min_questions: int = 30,
        embedding_similarity: float = 0.6,
        sample: int = 2000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._prompts = prompts
        self._pool = pool
        self._embedder = embedder
        self._model = model
        self._count = count
        self._min_questions = min_questions
        self._embedding_similarity = embedding_similarity
        self._sample = sample
        self._clock = clock

    async def __call__(self) -> JobResult:
        now = self._clock()
        asked = await self._prompts.questions(now - timedelta(days=7), now, limit=self._sample)
        found = _Questions.of(asked)
        total = int(sum(found.counts))
        if total < self._min_questions:
            return JobResult(
                summary=(
                    f"Only {total} questions in the last 7 days (at least {self._min_questions} "
                    "are needed); the current prompts stay."
                ),
                counts={"questions": total},
                skipped=True,
            )
        clusters, method = await self._cluster(found)
        groups = [self._group(c, found) for c in clusters]
        eligible = [
            g for g in groups if g.questions >= MIN_GROUP_QUESTIONS and g.people >= MIN_GROUP_PEOPLE
        ]
        # A few spare groups, in case some produce no usable prompt.
        candidates = eligible[: self._count + 6]
        if self._model is not None and candidates:
            await self._phrase(candidates)
        chosen: list[SuggestedPrompt] = []
        seen: set[str] = set()
        by_model = 0
        for group in candidates:
            # The model's phrasing first, then the group's real questions, most central first.
            options = ([group.prompt] if group.prompt else []) + [
                t for t in map(tidy, group.texts) if presentable(t)
            ]
            text = next((t for t in options if not self._repeats(t, seen, chosen)), None)
            if text is None:
                continue
            seen.add(_key(text))
            by_model += text == group.prompt
            chosen.append(SuggestedPrompt(text, group.domain))
            if len(chosen) == self._count:
                break
        counts = {
            "questions": total,
            "distinct": len(found.texts),
            "clusters": len(clusters),
            "eligible": len(eligible),
            "prompts": len(chosen),
            "phrased_by_model": by_model,
            "embeddings": int(method == "embeddings"),
        }
        if not chosen:
            return JobResult(
                summary="No group of questions was asked by enough people; the current prompts stay.",
                counts=counts,
                skipped=True,
            )
        week = week_of(now)
        await self._prompts.replace_week(week, chosen)
        return JobResult(
            summary=(
                f"Stored {len(chosen)} prompts for the week of {week.isoformat()} from {total} "
                f"questions in {len(clusters)} groups ({method})."
            ),
            counts=counts,
            details=[p.text for p in chosen],
        )

    @staticmethod
    def _repeats(text: str, seen: set[str], chosen: Sequence[SuggestedPrompt]) -> bool:
        """Whether ``text`` is already among the prompts, or nearly so in its words."""
        if _key(text) in seen:
            return True
        if not chosen:
            return False
        mine, *theirs = word_vectors([text, *(p.text for p in chosen)])
        return any(
            sum(w * other.get(t, 0.0) for t, w in mine.items()) >= NEAR_DUPLICATE
            for other in theirs
        )

    async def _cluster(self, found: _Questions) -> tuple[list[Cluster], str]:
        if self._embedder is not None:
            try:
                vectors = await self._embedder.embed(found.texts)
            except ModelError as exc:
                log.warning("prompts_embeddings_unavailable", error=str(exc))
            else:
                floor = max(0.0, self._embedding_similarity - EMBEDDING_FLOOR_MARGIN)
                pairs = await similar_pairs(self._pool, vectors, threshold=floor)
                graph = graph_from_pairs(len(found.texts), pairs)
                clusters = await asyncio.to_thread(
                    average_linkage,
                    graph,
                    found.counts,
                    self._embedding_similarity,
                    tiebreak=found.texts,
                )
                return clusters, "embeddings"
        # Seconds of pure Python for a couple of thousand questions (bench/weekly_prompts.py):
        # in a thread, so the server's event loop keeps answering meanwhile.
        clusters = await asyncio.to_thread(_lexical_clusters, found)
        return clusters, "lexical"

    @staticmethod
    def _group(cluster: Cluster, found: _Questions) -> _Group:
        people: set[int] = set()
        domains: list[str] = []
        for i in cluster.members:
            people |= found.people[i]
            domains.extend(found.domains[i].elements())
        return _Group(
            texts=[found.texts[i] for i in cluster.members],
            questions=int(cluster.weight),
            people=len(people),
            domain=majority(domains),
        )

    async def _phrase(self, groups: list[_Group]) -> None:
        """Ask the model for one prompt per group; keep only the usable ones."""
        assert self._model is not None
        listing = "\n".join(
            f"{n}. " + " | ".join(g.texts[:6]) for n, g in enumerate(groups, start=1)
        )
        system = (
            "You write the suggested prompts an enterprise assistant offers to employees. "
            "Each numbered line below is one group of real questions people asked last week. "
            f"For each group, in order, write one question an employee would type, under "
            f"{MAX_CHARS} characters, covering what the group asks, generic (no names, numbers "
            "or personal details). Every question must be different. Reply with JSON only: "
            '{"prompts": ["...", "..."]}'
        )
        try:
            reply = await complete(self._model, system, listing, max_tokens=60 * len(groups))
        except ModelError as exc:
            log.warning("prompts_model_unavailable", error=str(exc))
            return
        phrased = json_list(reply, "prompts") or []
        for group, text in zip(groups, phrased, strict=False):
            if not isinstance(text, str) or not presentable(tidy(text)):
                continue
            # A weak model may skip or reorder a line; a phrasing that shares no word with its
            # group is about something else, and the group's own question is used instead.
            if set(terms(text)) & {t for q in group.texts[:20] for t in terms(q)}:
                group.prompt = tidy(text)
