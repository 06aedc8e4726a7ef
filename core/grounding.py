"""The grounding check: a model's answer is shown sentence by sentence, once each sentence has
been checked against the passages the model was given.

What a person sees has passed the check, so a failed check never has to take text back:

- **Citations.** ``[n]`` markers that point at no passage are removed as the text goes by.
  Nothing is shown until a sentence carries a valid citation; the sentences before it are held.
  An answer that cites nothing (within ``hold_chars``, or by its end) is *uncited*: it is never
  shown, and the caller asks again or shows the passages themselves.
- **Figures.** A number, amount, date or code found in no passage (nor in the question) is
  noted; with ``strict_figures`` the sentence carrying it is left out.
- **Copied sentences.** A sentence without a marker whose words are mostly a run of one
  passage's words (``attribute_share`` of its word triples) gets that passage's marker: the
  check has seen where it comes from. Small models quote far more often than they cite.
- **Loops.** A sentence said twice, or the same run of words said three times, stops the
  answer at the last sentence before the repetition.

The price is one sentence of delay: text is released when its sentence ends.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.answers import Grounding, Passage
from core.figures import FigureSource, figure_text
from core.memo import Memo

# A sentence ends at . ! or ? (and the citations right after it) followed by space and the
# start of the next one, or at a line break. A "[" after the space may still be a citation of
# the sentence before, so the next sentence must start with something else.
_END = re.compile(r"[.!?][\"')\]]*(?:[ \t]*\[\d{1,3}\])*[ \t]*(?:\n+[ \t]*|[ \t]+)(?=[^\s\[])|\n+(?=[^\s\[])")
# A sentence whose valid citation stands right before its full stop is checked and shown at
# the full stop, without waiting for the next word: what may follow (space, more citations)
# cannot change its check, and is added to it when it comes (_HEAD).
_CITED_END = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\][\"')\]]*[.!?][\"')\]]*(?=\s*\Z)")
# What _END lets a sentence end with after its full stop: quotes, citations, then space.
_HEAD = re.compile(r"[\"')\]]*(?:[ \t]*\[\d{1,3}\])*[ \t]*(?:\n+[ \t]*|[ \t]+)?")
# What _END's matches are made of, besides digits (\d: str.isdecimal).
_END_CHARS = frozenset(".!?\"')][ \t\n")
_OPEN_MARKER = re.compile(r"\[\d{0,3}")
_MARKER = re.compile(r"\[(\d{1,3})\]")
_MARKER_SPACED = re.compile(r"[ \t]?\[(\d{1,3})\]")  # a dropped marker takes its space along
# "[1, 2]" and "[1][2]" mean the same; the first is rewritten as the second.
_MARKER_LIST = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})+)\]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# A model echoing the prompt's passage tags: never shown.
_TAG = re.compile(r"</?\s*passages?\b[^>\n]*>\n?", re.IGNORECASE)
_DECLINE = re.compile(
    r"\b(?:could ?n[o']t|can ?n[o']t|did ?n[o']t|unable to|no information|not (?:able to )?find|"
    r"not (?:covered|mentioned|in the (?:company )?(?:documents|passages)))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class GroundingPolicy:
    """How strictly a model's answer is checked."""

    strict_figures: bool = False  # leave out sentences with a figure no passage holds
    hold_chars: int = 700  # text held while waiting for the first citation
    loop_ngram: int = 8  # a run of this many words…
    loop_repeats: int = 3  # …said this many times is a loop
    decline_chars: int = 400  # an uncited answer this short that says "not found" is shown
    attribute_words: int = 6  # a sentence this long or longer may be attributed by its words…
    attribute_share: float = 0.7  # …when this share of its word triples is in one passage


@dataclass(slots=True)
class _State:
    released: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    held_chars: int = 0
    cited: bool = False
    seen_sentences: set[str] = field(default_factory=set)
    ngrams: Counter[tuple[str, ...]] = field(default_factory=Counter)
    words: list[str] = field(default_factory=list)
    # The unfinished sentence's words read so far (up to its last space), after the last n-1
    # words before it, and their runs: each piece of the stream is read once, not the whole
    # sentence again at every piece. None until first read after a sentence was cut off.
    open_words: list[str] | None = None
    open_grams: Counter[tuple[str, ...]] = field(default_factory=Counter)
    open_read: int = 0  # characters of the buffer those words came from


class Readings:
    """What the check reads of each passage (its words joined, and its text as the figures
    check compares with it), remembered for the last ``size`` passages across answers; the
    question is read afresh. The same passages come back question after question, and each
    reading is a pass over the text, made as the answer's first text comes
    (docs/benchmarks.md, latency, round thirteen)."""

    def __init__(self, size: int = 1024) -> None:
        self.words = Memo(_joined_words, size=size)
        self.figures = Memo(figure_text, size=size)


class GroundingCheck:
    """Checks one streamed answer. ``feed`` each delta and show what it returns; ``close`` at
    the end of the stream and show what it returns. ``stopped`` says when to stop reading the
    model ("repetition" or "uncited"); ``report()`` says what was found."""

    def __init__(
        self, question: str, passages: Sequence[Passage], policy: GroundingPolicy | None = None,
        readings: Readings | None = None,
    ) -> None:
        self._count = len(passages)
        self._texts = [p.text for p in passages]
        self._readings = readings or Readings(size=0)
        self._joined: list[str] | None = None  # each passage's words, joined: made when needed
        self.attributed = 0  # sentences given a citation because they copy a passage
        self.uncited = 0  # sentences shown without a citation (after the first that had one)
        # Titles and places were shown to the model too: "p. 56" or a title's year is given.
        self._source = FigureSource(
            [question],
            read=[self._readings.figures(f"{p.title} {p.location}\n{p.text}") for p in passages],
        )
        self._policy = policy or GroundingPolicy()
        self._buffer = ""
        self._clean = 0  # the buffer's first characters known to hold no sentence end
        self._s = _State()
        self.stopped: str | None = None
        self.dropped: list[int] = []  # citation numbers that matched no passage
        self.unsupported: list[str] = []  # figures no passage holds
        self.removed_sentences = 0
        self.declined = False
        # Where the last sentence went ("shown", "held" or "dropped"), and, after a sentence cut
        # at its full stop, where the space after it goes once the next sentence starts.
        self._went = "dropped"
        self._cut: str | None = None

    @property
    def grounded(self) -> bool:
        return self._s.cited

    @property
    def shown(self) -> str:
        return "".join(self._s.released)

    def feed(self, delta: str) -> str:
        """Take the next piece of the model's text; return the text that may be shown now."""
        if self.stopped:
            return ""
        self._buffer += delta
        out: list[str] = []
        if self._cut is not None:
            out.append(self._after_cut())
        while not self.stopped:
            match = _END.search(self._buffer, self._end_from())
            if match is None:
                self._clean = len(self._buffer)
                break
            sentence = self._take(match.end())
            out.append(self._sentence(sentence))
        cited_end = None if self.stopped or self._cut else self._cited_end()
        if cited_end is not None and self._cites(cited_end.group(1)):
            sentence = self._take(cited_end.end())
            out.append(self._sentence(sentence))
            self._cut = self._went
            out.append(self._after_cut())
        if not self.stopped and self._looping_open():
            self.stopped = "repetition"
        return "".join(out)

    def close(self) -> str:
        """The stream ended: check what is left and return the last text to show."""
        out = ""
        if self._cut is not None and not self.stopped:
            out, self._buffer = self._place(self._valid_markers(self._buffer), self._cut), ""
            self._cut = None
        if not self.stopped and self._buffer.strip():
            out = self._sentence(self._buffer)
        self._buffer = ""
        if not self._s.cited and not self.stopped:
            held = "".join(self._s.held)
            if self._is_decline(held):
                # "I couldn't find that; ask HR" claims nothing, so it needs no citation.
                self.declined = True
                self._s.released.append(held)
                return held
            self.stopped = "uncited"
        return out

    def report(self, *, reasked: bool = False) -> Grounding:
        return Grounding(
            grounded=self._s.cited,
            check="cited" if self._s.cited else ("declined" if self.declined else "uncited"),
            dropped_citations=tuple(self.dropped),
            unsupported_figures=tuple(self.unsupported),
            removed_sentences=self.removed_sentences,
            attributed_sentences=self.attributed,
            uncited_sentences=self.uncited,
            stopped=self.stopped if self.stopped == "repetition" else None,
            reasked=reasked,
        )

    # -- one sentence -----------------------------------------------------------------------

    def _cites(self, numbers: str) -> bool:
        return any(self._points(int(n)) for n in numbers.split(","))

    def _points(self, n: int) -> bool:
        """Whether citation ``n`` points at a passage."""
        return 1 <= n <= self._count

    def _after_cut(self) -> str:
        """What follows a sentence cut at its full stop and would have ended it (citations,
        space) goes where that sentence went, once the next sentence starts; until then, it
        waits."""
        end = _HEAD.match(self._buffer).end()  # type: ignore[union-attr]  # matches ""
        rest = self._buffer[end:]
        if not rest or _OPEN_MARKER.fullmatch(rest):
            return ""
        went, self._cut = self._cut, None
        head = self._take(end)
        return self._place(self._valid_markers(head), went)

    def _end_from(self) -> int:
        """Where a sentence end may start in the buffer. Its first ``_clean`` characters held
        none, so one found now runs past them, and starts in the run of characters an end is
        made of (full stops, quotes, citations, spaces, line breaks) just before them."""
        buffer, start = self._buffer, self._clean
        while start > 0 and (buffer[start - 1] in _END_CHARS or buffer[start - 1].isdecimal()):
            start -= 1
        return start

    def _cited_end(self) -> re.Match[str] | None:
        """``_CITED_END`` in the buffer: it holds one "[", so it can only start at the last."""
        start = self._buffer.rfind("[")
        return _CITED_END.match(self._buffer, start) if start >= 0 else None

    def _take(self, end: int) -> str:
        """Cut the buffer's first ``end`` characters off and return them."""
        head, self._buffer = self._buffer[:end], self._buffer[end:]
        self._clean = 0
        if end:
            # What the loop check read of the unfinished sentence is read afresh.
            s = self._s
            s.open_words, s.open_grams, s.open_read = None, Counter(), 0
        return head

    def _place(self, text: str, went: str | None) -> str:
        """``text`` shown, held or dropped with the sentence before it."""
        s = self._s
        if went == "shown":
            s.released.append(text)
            return text
        if went == "held":
            s.held.append(text)
            s.held_chars += len(text)
        return ""

    def _sentence(self, sentence: str) -> str:
        self._went = "dropped"
        sentence = self._attributed(self._valid_markers(_TAG.sub("", sentence)))
        if not sentence.strip():
            return ""
        if self._looping(sentence):
            self.stopped = "repetition"
            return ""
        unsupported = self._source.unsupported(sentence)
        for figure in unsupported:
            if figure not in self.unsupported:
                self.unsupported.append(figure)
        if unsupported and self._policy.strict_figures:
            self.removed_sentences += 1
            return ""
        s = self._s
        if not s.cited:
            s.held.append(sentence)
            s.held_chars += len(sentence)
            if _MARKER.search(sentence):
                s.cited = True
                shown, s.held, s.held_chars = "".join(s.held), [], 0
                s.released.append(shown)
                self._went = "shown"
                return shown
            if s.held_chars > self._policy.hold_chars:
                self.stopped = "uncited"
            self._went = "held"
            return ""
        if len(_words(sentence)) >= self._policy.attribute_words and not _MARKER.search(sentence):
            self.uncited += 1
        s.released.append(sentence)
        self._went = "shown"
        return sentence

    def _valid_markers(self, sentence: str) -> str:
        sentence = _MARKER_LIST.sub(
            lambda m: "".join(f"[{n.strip()}]" for n in m.group(1).split(",")), sentence
        )

        def keep(match: re.Match[str]) -> str:
            n = int(match.group(1))
            if self._points(n):
                return match.group(0)
            if n not in self.dropped:
                self.dropped.append(n)
            return ""

        return _MARKER_SPACED.sub(keep, sentence)

    def _attributed(self, sentence: str) -> str:
        """``sentence``, with the marker of the passage it copies when it has none."""
        if _MARKER.search(sentence) or not self._texts:
            return sentence
        words = _words(sentence)
        if len(words) < self._policy.attribute_words:
            return sentence
        if self._joined is None:
            # Only a sentence without a marker needs them (``_joined_words``).
            self._joined = [self._readings.words(text) for text in self._texts]
        mine = {f" {a} {b} {c} " for a, b, c in zip(words, words[1:], words[2:])}
        shares = [sum(run in joined for run in mine) / len(mine) for joined in self._joined]
        best = max(range(len(shares)), key=shares.__getitem__)
        if shares[best] < self._policy.attribute_share:
            return sentence
        self.attributed += 1
        body = sentence.rstrip()
        return f"{body} [{best + 1}]{sentence[len(body):]}"

    def _looping(self, sentence: str) -> bool:
        """A complete sentence said before, or a run of words said ``loop_repeats`` times
        (the unfinished sentence is watched by ``_looping_open``)."""
        s = self._s
        words = _words(sentence)
        key = " ".join(words)
        if len(key) >= 12:
            if key in s.seen_sentences:
                return True
            s.seen_sentences.add(key)
        n, limit = self._policy.loop_ngram, self._policy.loop_repeats
        # Only the runs that end in ``sentence`` are new: the last n-1 words before it and its own.
        candidate = s.words[max(len(s.words) - n + 1, 0) :] + words
        fresh: Counter[tuple[str, ...]] = Counter()
        said = s.ngrams
        for i in range(len(candidate) - n + 1):
            gram = tuple(candidate[i : i + n])
            count = fresh[gram] = fresh.get(gram, 0) + 1
            if said.get(gram, 0) + count >= limit:
                return True
        s.words.extend(words)
        s.ngrams.update(fresh)
        return False

    def _looping_open(self) -> bool:
        """``_looping`` for the unfinished sentence, reading only what the stream added to it
        since the last look, up to its last space (a word may still be growing after it)."""
        s, buffer = self._s, self._buffer
        end = max(buffer.rfind(" "), buffer.rfind("\n"), buffer.rfind("\t")) + 1
        if end <= s.open_read:
            return False
        n, limit = self._policy.loop_ngram, self._policy.loop_repeats
        if s.open_words is None:
            s.open_words = s.words[max(len(s.words) - n + 1, 0) :]
        run = s.open_words
        before = len(run)
        run.extend(_words(buffer[s.open_read : end]))
        s.open_read = end
        said, open_grams = s.ngrams, s.open_grams
        for i in range(max(before - n + 1, 0), len(run) - n + 1):
            gram = tuple(run[i : i + n])
            count = open_grams[gram] = open_grams.get(gram, 0) + 1
            if said.get(gram, 0) + count >= limit:  # get: a missing key costs no __missing__
                return True
        return False

    def _is_decline(self, text: str) -> bool:
        text = text.strip()
        return (
            0 < len(text) <= self._policy.decline_chars
            and _DECLINE.search(text) is not None
            and not self._source.unsupported(text)
        )


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(_MARKER.sub(" ", text))]


def _joined_words(text: str) -> str:
    """``text``'s words joined by spaces, with a space at each end: a run of three words is in
    the text when " a b c " is in this (words hold no spaces)."""
    return f" {' '.join(_words(text))} "

