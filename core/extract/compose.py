"""The offline answer: from the passage that answers best, the units that carry the fact —
a sentence, a procedure's steps, a table's matching rows under their header — cited.

A second passage is quoted only when it answers about as well as the first; everything
else retrieved stays in the sources, not in the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.answers import Passage
from core.extract.blocks import Block, Unit, read
from core.extract.scoring import Question, Weights, block_score, context_words, score, words
from core.text import ASKING

# A lower-ranked passage must beat the one above it clearly to be quoted first.
_RANK_PRIOR = 0.08
# Share of the best unit's score another unit needs to be quoted beside it.
_BESIDE = 0.6
# Share of the best matching row's score another row needs (rows are alike: stricter).
_BESIDE_ROW = 0.8
# Share of the best passage's score a second passage needs to be quoted at all.
_SECOND_PASSAGE = 0.9
_MAX_ROWS = 4
_MAX_ITEMS = 12
_MAX_EXTRA_UNITS = 2
# Sentences quoted from a paragraph whose heading names what was asked.
_PARAGRAPH = 3
# Share of the question's weight a heading must name for its paragraph to be about it.
_ABOUT = 0.5
_ASKING = frozenset(words(" ".join(ASKING)))


@dataclass(slots=True)
class _Read:
    n: int
    passage: Passage
    units: list[Unit]
    scores: dict[int, float]
    own: dict[int, float] = field(default_factory=dict)  # before a list's steps share a score

    @property
    def best(self) -> tuple[float, Unit | None]:
        if not self.scores:
            return 0.0, None
        index = max(self.scores, key=lambda i: (self.scores[i], -i))
        return self.scores[index], self.units[index]


def _label(passage: Passage) -> str:
    where = passage.location
    return f"{passage.title} › {where}" if where and where != passage.title else passage.title


def _table(block: Block, rows: Sequence[Unit]) -> list[str]:
    width = max([len(block.header), *(len(r.cells) for r in rows)])

    def line(cells: Sequence[str]) -> str:
        padded = list(cells) + [""] * (width - len(cells))
        return "| " + " | ".join(padded) + " |"

    out = []
    if block.header:
        out += [line(block.header), "|" + "---|" * width]
    out += [line(r.cells) for r in rows]
    return out


def _list(block: Block, items: Sequence[Unit]) -> list[str]:
    if block.ordered:
        return [f"{k}. {item.text}" for k, item in enumerate(items, start=1)]
    return [f"- {item.text}" for item in items]


def _following(units: list[Unit], unit: Unit) -> Block | None:
    """The list or table right after ``unit`` (what "including:" or "below" points at)."""
    later = [u for u in units if u.index > unit.index and u.block is not unit.block]
    if later and later[0].block.kind in {"list", "table"}:
        return later[0].block
    return None


def _steps_after(units: list[Unit], unit: Unit) -> Block | None:
    """Numbered steps later under the same heading as ``unit``, with no other list or table
    between ("The fastest way is Lumen Reset. It works from any browser. 1. Go to …")."""
    for later in units[unit.index + 1:]:
        if later.block.heading != unit.block.heading or later.block.kind == "table":
            return None
        if later.block.kind == "list":
            return later.block if later.block.ordered else None
    return None


class _Composer:
    def __init__(self, question: Question, read_: _Read, about: Callable[[Unit], bool]) -> None:
        self.q = question
        self.r = read_
        self.about = about  # the heading a unit sits under names what was asked
        self.shown: set[int] = set()
        self.parts: list[tuple[int, list[str]]] = []

    def s(self, unit: Unit) -> float:
        return self.r.scores.get(unit.index, 0.0)

    def whole_block(self, block: Block, *, rows_matching: bool = True) -> None:
        """A list with its lead-in, or a table with its header (only its matching rows when
        the question names some)."""
        units = [u for u in block.units if u.text]
        if not units:
            return
        if block.kind == "table":
            best = max(self.s(u) for u in units)
            rows = [u for u in units if best > 0 and self.s(u) >= _BESIDE_ROW * best] if rows_matching else []
            rows = (rows or units)[: _MAX_ROWS if rows_matching and rows else _MAX_ITEMS]
            lines = _table(block, rows)
            shown = rows
        else:
            shown = units[:_MAX_ITEMS]
            lines = _list(block, shown)
        if block.lead and block.announced and not self._said(block.lead):
            lines = [block.lead, *lines]
            self._mark_lead(block)
        self.parts.append((units[0].index, lines))
        self.shown.update(u.index for u in block.units)

    def _said(self, text: str) -> bool:
        """``text`` is already in the answer, alone or inside a quoted sentence pair."""
        return any(text in line for _, lines in self.parts for line in lines) or any(
            u.text == text for u in self._shown_units()
        )

    def _mark_lead(self, block: Block) -> None:
        """The lead-in quoted above a list or table is shown: never quoted again on its own."""
        first = min((u.index for u in block.units), default=0)
        for u in reversed(self.r.units[:first]):
            if u.text == block.lead:
                self.shown.add(u.index)
                return

    def _shown_units(self) -> list[Unit]:
        return [u for u in self.r.units if u.index in self.shown]

    def around(self, unit: Unit) -> None:
        """``unit`` as it must be read: with its block where it is one step of a procedure or
        a row of a table, with what it announces where it ends on "including:"."""
        block = unit.block
        if unit.index in self.shown:
            return
        if block.kind == "table":
            self.whole_block(block)
            return
        if block.kind == "list":
            # Steps, a procedure, or what a lead-in announced ("…including:"): read whole.
            if block.ordered or block.announced or (
                self.q.procedure and (block.lead or len(block.units) <= _MAX_ITEMS)
            ):
                self.whole_block(block)
                return
            best = max(self.s(u) for u in block.units)
            items = [u for u in block.units if u.text and self.s(u) >= _BESIDE * best]
            lines = _list(block, items)
            if block.lead and block.announced and not self._said(block.lead):
                lines = [block.lead, *lines]
                self._mark_lead(block)
            self.parts.append((items[0].index, lines))
            self.shown.update(u.index for u in items)
            if unit.opens_more and (nxt := _following(self.r.units, unit)) is not None:
                self.whole_block(nxt, rows_matching=False)
            return
        # Prose: the sentence, the next one when it carries on the same point.
        picked = [unit]
        siblings = [u for u in block.units if u.text]
        position = siblings.index(unit)
        if self.about(unit):
            # A paragraph under a heading that names what was asked ("Error MFA-112") is
            # about it throughout: what it goes on to say is part of the answer.
            picked = siblings[position:position + _PARAGRAPH]
        elif position + 1 < len(siblings) and self.s(siblings[position + 1]) >= 0.5 * self.s(unit):
            picked.append(siblings[position + 1])
        self.parts.append((unit.index, [" ".join(u.text for u in picked)]))
        self.shown.update(u.index for u in picked)
        if self.q.procedure and (steps := _steps_after(self.r.units, picked[-1])) is not None:
            self.whole_block(steps)  # "how do I…" answered by the way, then its steps
            return
        nxt = _following(self.r.units, picked[-1])
        if nxt is None or nxt.lead != picked[-1].text:
            return
        if picked[-1].opens_more:
            self.whole_block(nxt, rows_matching=not picked[-1].text.rstrip().endswith(":"))
            return
        # A list right after the sentence often says the rest ("forward it to …").
        items = [u for u in nxt.units if u.text and self.s(u) >= 0.5 * self.s(unit)]
        if items and nxt.kind == "list":
            self.parts.append((items[0].index, _list(nxt, items)))
            self.shown.update(u.index for u in items)

    def compose(self, best: Unit) -> list[str]:
        self.around(best)
        top = self.s(best)
        others = sorted(
            (u for u in self.r.units if u.text and u.index not in self.shown and u.block is not best.block),
            key=lambda u: (-self.s(u), u.index),
        )
        # Beside the answer, only a unit that itself holds the question's words.
        others = [u for u in others if self.r.own.get(u.index, 0.0) >= _BESIDE * top]
        for unit in others[:_MAX_EXTRA_UNITS]:
            if unit.index not in self.shown:
                self.around(unit)
        self.parts.sort(key=lambda part: part[0])
        return _once(self.parts)


def _once(parts: list[tuple[int, list[str]]]) -> list[str]:
    """The parts' lines with nothing said twice: a sentence, list item or table row already
    shown is left out, a table's header comes back only above rows not yet shown (and not
    when they carry on the same table right below it), and a lead-in already said at the end
    of a quoted sentence pair is not said again on its own."""
    out: list[str] = []
    said: set[str] = set()
    last_header: list[str] = []
    for _, lines in parts:
        at = next((k for k, line in enumerate(lines) if line.startswith("|")), len(lines))
        has_header = at + 1 < len(lines) and lines[at + 1].startswith("|---")
        header = lines[at:at + 2] if has_header else []
        before = [line for line in lines[:at] if line not in said]
        rows = [line for line in lines[at + len(header):] if line not in said]
        if header and not before and out and out[-1].startswith("|") and header == last_header:
            header = []  # more rows of the table just above: one header for all of them
        fresh = before + (header + rows if rows else [])
        out.extend(fresh)
        said.update(before + rows)
        last_header = header or last_header
    prose = [line for line in out if not line.startswith(("|", "- ")) and not line[:1].isdigit()]
    return [
        line for line in out
        if not (line in prose and len(line) >= 12 and line.endswith(":")
                and any(other != line and other.endswith(line) for other in prose))
    ]


def _heading(passage: Passage, unit: Unit) -> set[str]:
    """The words of the heading a unit sits under: the one above it inside the passage, else
    the passage's section."""
    return words(unit.block.heading or passage.section or "")


def _under(passage: Passage, unit: Unit, around: str) -> str:
    """What a unit is read under: the heading above it inside the passage where there is one
    (a passage merged from two sections), else the passage's own section."""
    return f"{passage.title} {unit.block.heading}" if unit.block.heading else around


def compose(question: str, passages: Sequence[Passage], *, max_passages: int = 3) -> list[str]:
    """The answer's lines, passage by passage, each passage headed by its title and ``[n]``.

    Empty when no passage shares a word with the question.
    """
    q = Question.of(question)
    reads = [_Read(n, p, read(p.text), {}) for n, p in enumerate(passages, start=1)]
    weights = Weights(q, [u.text for r in reads for u in r.units if u.text])
    for r in reads:
        around = f"{r.passage.title} {r.passage.section or ''}"
        prior = 1 / (1 + _RANK_PRIOR * (r.n - 1))
        r.scores = {
            u.index: score(u, q, weights, context_words(u, _under(r.passage, u, around)),
                             _heading(r.passage, u)) * prior
            for u in r.units
            if u.text
        }
        r.own = dict(r.scores)
        if q.procedure:
            # "How do I…": a list of steps answers as a whole, even when no single step
            # holds the question's words.
            for block in {id(u.block): u.block for u in r.units if u.block.kind == "list"}.values():
                steps = [u for u in block.units if u.text]
                if len(steps) < 2:
                    continue
                whole = block_score(
                    steps, q, weights, context_words(steps[0], _under(r.passage, steps[0], around))
                )
                whole *= 1.15 * prior * (0.9 if not block.ordered else 1.0)
                for u in steps:
                    r.scores[u.index] = max(r.scores[u.index], whole)
    ranked = sorted(reads, key=lambda r: -r.best[0])
    if not ranked or ranked[0].best[0] <= 0:
        return []
    top = ranked[0].best[0]
    chosen = [ranked[0]] + [
        r for r in ranked[1:max_passages] if r.best[0] >= _SECOND_PASSAGE * top
    ][:1]
    asked = q.words - _ASKING  # what the question is about, not how it is asked ("mean")
    out: list[str] = []
    for r in chosen:
        _, unit = r.best
        assert unit is not None

        def about(u: Unit, passage: Passage = r.passage) -> bool:
            return weights.of(_heading(passage, u) & asked) >= _ABOUT * weights.of(asked)

        lines = _Composer(q, r, about).compose(unit)
        said = set(out)
        if not lines or all(line in said or line.startswith("|---") for line in lines):
            continue  # the same rows or sentences in another document say nothing new
        if out:
            out.append("")
        out.append(f"From *{_label(r.passage)}* [{r.n}]:")
        out.extend(lines)
    return out
