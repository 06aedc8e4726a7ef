"""Writes one answer into a ReplyStream: the model's, checked sentence by sentence, or the
passages themselves when the model gives nothing usable.

The outcomes a person can see (``docs/model-layer.md``, "Grounded answers"):

- a cited answer streams as it is written, one sentence behind the model;
- an answer that cites nothing is never shown: the passages are shown under a line saying the
  model's answer could not be checked (``UNCHECKED``) — or, with ``reask``, the model is first
  asked once more, more strictly;
- a loop ends the answer at the last sentence before it, finished like any other;
- figures found in no passage are named in a closing line (or, strictly, their sentences left
  out);
- no text at all from the model (down, too slow): the passages under ``MODEL_DOWN``;
- a stream that breaks after text was shown: that text, then ``INTERRUPTED``.

Only checked text reaches the stream and nothing shown is taken back, so what was streamed is
always the beginning of the final answer: an adapter's ``finish`` only ever appends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import structlog

from core.answers import Grounding
from core.generation import GenerationRequest, Generator
from core.grounding import GroundingCheck, GroundingPolicy, Readings
from core.metrics import Metrics
from core.stream import ReplyStream

log = structlog.get_logger(__name__)

MODEL_DOWN = (
    "_The language model isn't responding right now, so here are the most relevant passages "
    "from the company documents instead._\n\n"
)
UNCHECKED = (
    "_The language model's answer could not be checked against the company documents, so "
    "here are the most relevant passages instead._\n\n"
)
INTERRUPTED = (
    "\n\n_(This answer was cut off because the language model stopped responding. "
    "Ask again for the complete answer.)_"
)
CHECKING = "Checking the answer against the documents…"


def figures_note(figures: tuple[str, ...]) -> str:
    """The closing line for figures that no passage holds."""
    listed = ", ".join(figures[:5])
    return (
        f"\n\n_Check {listed} in the sources before relying on "
        f"{'it' if len(figures) == 1 else 'them'}: I could not find "
        f"{'it' if len(figures) == 1 else 'them'} in the passages._"
    )


@dataclass(frozen=True, slots=True)
class Written:
    """How writing went: the stored status, whether the fallback answered, when the first
    text was shown (ms since the question arrived), and the grounding report."""

    status: str
    fell_back: bool
    ttft_ms: float | None
    grounding: Grounding


class GroundedWriter:
    """Streams a generator's answer through the grounding check into a ``ReplyStream``.

    ``fallback`` (the extractive answerer) answers when the model gives nothing usable; an
    offline generator (no model) is streamed as it is, since it quotes the passages.
    """

    def __init__(
        self,
        generator: Generator,
        *,
        fallback: Generator | None = None,
        policy: GroundingPolicy | None = None,
        reask: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self._generator = generator
        self._fallback = fallback
        self._policy = policy or GroundingPolicy()
        # The passages' words and figures, read once for every answer that quotes them.
        self._readings = Readings()
        self._reask = reask
        self._metrics = metrics

    async def write(
        self, request: GenerationRequest, stream: ReplyStream, parts: list[str], started: float
    ) -> Written:
        """Show the answer through ``stream``, collecting exactly what was shown in ``parts``."""
        shown = _Shown(stream, parts, started)
        if self._generator.name == "extractive" or not request.passages:
            # The offline answerer quotes the passages, already grounded; with no passages
            # the model is not called and the answer says so.
            try:
                await shown.pump(self._generator.stream(request))
            except Exception:
                log.exception("generation_failed")
                return Written("failed", False, shown.ttft_ms, Grounding(False, "none"))
            check = "extractive" if request.passages else "none"
            return Written("complete", False, shown.ttft_ms, Grounding(bool(request.passages), check))

        reasked = False
        while True:
            check: GroundingCheck | None = None
            try:
                async with aclosing(self._generator.stream(request)) as deltas:
                    async for delta in deltas:
                        if check is None:
                            # Made at the first text: the passages are fitted by then.
                            check = GroundingCheck(
                                request.question, request.passages, self._policy, self._readings
                            )
                        await shown.show(check.feed(delta))
                        if check.stopped:
                            break  # aclosing ends the model's stream: no more tokens are paid for
                if check is not None and not check.stopped:
                    await shown.show(check.close())
            except Exception as exc:  # noqa: BLE001 — any failure of the model ends in a fallback
                if parts:
                    log.warning("generation_interrupted", error=str(exc), chars=shown.chars)
                    assert check is not None
                    await shown.show(check.close())
                    await shown.show(INTERRUPTED)
                    return self._done("incomplete", False, shown, check.report(reasked=reasked))
                log.warning("generation_unavailable", error=str(exc))
                return await self._passages(request, shown, MODEL_DOWN, Grounding(True, "extractive", reasked=reasked))
            if check is None:
                return await self._passages(request, shown, MODEL_DOWN, Grounding(True, "extractive", reasked=reasked))
            if check.stopped == "repetition":
                self._count_stop("repetition")
            report = check.report(reasked=reasked)
            # A decline is taken from the first ask only: asked again because it cited nothing,
            # a small model tends to fall back on "not found" although the passages answer it.
            if check.grounded or (check.declined and not reasked):
                if report.unsupported_figures and not self._policy.strict_figures:
                    await shown.show(figures_note(report.unsupported_figures))
                return self._done("complete", False, shown, report)
            self._count_stop("uncited")
            log.info("answer_uncited", reasked=reasked, stopped=check.stopped,
                     figures=report.unsupported_figures)
            if self._reask and not reasked:
                reasked = True
                request.strict = True
                await stream.status(CHECKING)
                continue
            replaced = Grounding(
                True, "replaced", dropped_citations=report.dropped_citations,
                unsupported_figures=report.unsupported_figures, stopped=report.stopped,
                reasked=reasked,
            )
            return await self._passages(request, shown, UNCHECKED, replaced)

    async def _passages(
        self, request: GenerationRequest, shown: _Shown, notice: str, grounding: Grounding
    ) -> Written:
        """The fallback's answer (the passages themselves) under ``notice``."""
        if self._fallback is None:
            return Written("failed", False, shown.ttft_ms, Grounding(False, "none"))
        model = request.usage.model

        async def with_notice() -> AsyncIterator[str]:
            yield notice
            async for delta in self._fallback.stream(request):  # type: ignore[union-attr]
                yield delta

        try:
            await shown.pump(with_notice())
        except Exception:
            log.exception("fallback_failed")
            return self._done("failed", True, shown, Grounding(False, "none"))
        if model and notice is UNCHECKED:
            # The model was called and paid for: its name stays with its tokens.
            request.usage.model = model
        return self._done("complete", True, shown, grounding)

    def _done(self, status: str, fell_back: bool, shown: _Shown, grounding: Grounding) -> Written:
        if self._metrics is not None:
            self._metrics.answer_grounding.labels(check=grounding.check).inc()
            if grounding.unsupported_figures:
                self._metrics.unsupported_figures.inc(len(grounding.unsupported_figures))
        return Written(status, fell_back, shown.ttft_ms, grounding)

    def _count_stop(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.generation_stopped.labels(reason=reason).inc()


class _Shown:
    """What reached the person: appended to the stream and kept in ``parts``."""

    def __init__(self, stream: ReplyStream, parts: list[str], started: float) -> None:
        self._stream = stream
        self._parts = parts
        self._started = started
        self.ttft_ms: float | None = None

    @property
    def chars(self) -> int:
        return sum(map(len, self._parts))

    async def show(self, text: str) -> None:
        if not text:
            return
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self._started) * 1000
        self._parts.append(text)
        await self._stream.append(text)

    async def pump(self, deltas: AsyncIterator[str]) -> None:
        async for delta in deltas:
            await self.show(delta)
