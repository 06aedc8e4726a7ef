"""summaries: a short summary of each conversation that has gone quiet, embedded when it can be.

The model writes the summary when one is configured (and answers); otherwise it is extractive:
what the person asked, and the first sentence of the answer they got. With embeddings
configured, each summary is embedded so history search can find the conversation by meaning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog

from core.errors import ModelError
from core.ingest.pipeline import Embedder
from jobs.registry import JobResult
from jobs.writing import ChatModel, complete
from store.summaries import Method, SummaryStore, TranscriptLine

log = structlog.get_logger(__name__)

MAX_SUMMARY_CHARS = 400
_CITATION = re.compile(r"\s*\[\d+\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_SYSTEM = (
    "Summarize this conversation between an employee and the company assistant in one or two "
    f"sentences, under {MAX_SUMMARY_CHARS - 100} characters: what the employee wanted and what "
    "they were told. Write it so the employee can recognise the conversation later. Reply with "
    "the summary only."
)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def extractive_summary(lines: Sequence[TranscriptLine]) -> str:
    """The questions asked (up to three) and the first sentence of the first answer."""
    questions = [_clip(line.text, 120) for line in lines if line.role == "user"][:3]
    answer = next((line.text for line in lines if line.role == "assistant"), "")
    answer = _CITATION.sub("", " ".join(answer.split()))
    first = _SENTENCE_END.split(answer, maxsplit=1)[0] if answer else ""
    parts = []
    if questions:
        parts.append("Asked: " + " · ".join(q.rstrip() for q in questions))
    if first:
        parts.append("Answer: " + _clip(first, 160))
    return _clip(" — ".join(parts), MAX_SUMMARY_CHARS)


class Summaries:
    """The summaries job. Call it (no arguments) to run once."""

    def __init__(
        self,
        store: SummaryStore,
        *,
        quiet: timedelta,
        model: ChatModel | None = None,
        embedder: Embedder | None = None,
        lookback: timedelta = timedelta(days=30),
        batch: int = 200,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._quiet = quiet
        self._model = model
        self._embedder = embedder
        self._lookback = lookback
        self._batch = batch
        self._clock = clock

    async def __call__(self) -> JobResult:
        now = self._clock()
        pending = await self._store.quiet(
            quiet_since=now - self._quiet, active_after=now - self._lookback, limit=self._batch
        )
        written: list[tuple[int, int, str, Method]] = []
        for conversation in pending:
            lines = await self._store.transcript(conversation.id)
            if not lines:
                continue
            text, method = await self._summarize(lines)
            written.append((conversation.id, conversation.last_message_id, text, method))
        vectors: list[list[float]] | list[None] = [None] * len(written)
        if self._embedder is not None and written:
            try:
                vectors = await self._embedder.embed([text for _, _, text, _ in written])
            except ModelError as exc:
                # The summaries are still worth keeping; the next change re-embeds them.
                log.warning("summary_embeddings_unavailable", error=str(exc))
        for (conversation_id, last_id, text, method), vector in zip(written, vectors, strict=True):
            await self._store.save(
                conversation_id,
                summary=text,
                method=method,
                last_message_id=last_id,
                embedding=vector,
                embedding_model=self._embedder.model if self._embedder and vector else None,
            )
        counts = {
            "summarized": len(written),
            "by_model": sum(1 for *_, method in written if method == "model"),
            "embedded": sum(1 for v in vectors if v is not None),
        }
        if not written:
            return JobResult(summary="No quiet conversation needed a summary.", counts=counts)
        return JobResult(
            summary=(
                f"Summarized {counts['summarized']} conversations ({counts['by_model']} by the "
                f"model), {counts['embedded']} embedded."
            ),
            counts=counts,
        )

    async def _summarize(self, lines: Sequence[TranscriptLine]) -> tuple[str, Method]:
        if self._model is not None:
            transcript = "\n".join(
                f"{'Employee' if line.role == 'user' else 'Assistant'}: {_clip(line.text, 1500)}"
                for line in lines
            )
            try:
                text = await complete(self._model, _SYSTEM, transcript[:8000], max_tokens=160)
            except ModelError as exc:
                log.warning("summary_model_unavailable", error=str(exc))
            else:
                if text:
                    return _clip(text, MAX_SUMMARY_CHARS), "model"
        return extractive_summary(lines), "extractive"
