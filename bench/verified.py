"""Verified answers: does a paraphrase get the verified answer, and does a near-miss not?

Reads bench/data/verified-pairs.jsonl: pairs of a verified question and an asked one, each
marked ``match`` (a paraphrase: the verified answer is right) or not (a near-miss: the same
words about another office, device, year, kind of leave, the opposite action, or a neighbouring
topic). Every third pair is held out; the threshold is chosen on the rest as the lowest score
that lets no near-miss through (a wrong verified answer costs more than a model answer), and
precision and recall are reported on both parts, for words + trigrams (no embeddings) and for
all-MiniLM-L6-v2 embeddings (the local model server, or ``--base-url``).

    python -m bench.verified [--base-url URL] [--no-embeddings] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import EMBED_MODEL, command_line, embedding_server, machine, table, write_section
from core.embeddings import OpenAIEmbedder
from core.verified.matching import cosine, shape, text_similarity, veto

DATA = Path(__file__).resolve().parent / "data" / "verified-pairs.jsonl"


@dataclass(frozen=True, slots=True)
class Pair:
    verified: str
    asked: str
    match: bool
    kind: str
    held_out: bool


@dataclass(frozen=True, slots=True)
class Scored:
    pair: Pair
    score: float
    vetoed: bool


def load() -> list[Pair]:
    pairs = []
    for n, line in enumerate(DATA.read_text().splitlines()):
        row = json.loads(line)
        pairs.append(Pair(row["verified"], row["asked"], row["match"], row["kind"], n % 3 == 2))
    return pairs


# Above the highest near-miss by this much: a question unlike any in the set may land nearer.
MARGIN = 0.05


def choose(scored: Sequence[Scored], *, use_veto: bool = True) -> float:
    """The lowest threshold (two decimals) ``MARGIN`` above every near-miss the veto lets
    through."""
    misses = [s.score for s in scored if not s.pair.match and not (use_veto and s.vetoed)]
    top = max(misses, default=0.0)
    return min(1.01, math.floor(top * 100 + 1) / 100 + MARGIN)


def measure(scored: Sequence[Scored], threshold: float, *, use_veto: bool = True) -> tuple[float, float, int, int]:
    """(precision, recall, true matches, false matches)."""
    said = [s for s in scored if s.score >= threshold and not (use_veto and s.vetoed)]
    right = sum(s.pair.match for s in said)
    wrong = len(said) - right
    positives = sum(s.pair.match for s in scored)
    precision = right / len(said) if said else 1.0
    return precision, right / positives if positives else 0.0, right, wrong


def lexical(pairs: Sequence[Pair]) -> list[Scored]:
    out = []
    for pair in pairs:
        a, b = shape(pair.verified), shape(pair.asked)
        out.append(Scored(pair, text_similarity(a, b), veto(a, b) is not None))
    return out


async def by_embeddings(pairs: Sequence[Pair], base_url: str) -> list[Scored]:
    embedder = OpenAIEmbedder(model=EMBED_MODEL, base_url=base_url, api_key="local")
    try:
        texts = sorted({t for p in pairs for t in (p.verified, p.asked)})
        vectors = dict(zip(texts, await embedder.embed(texts), strict=True))
    finally:
        await embedder.aclose()
    out = []
    for pair in pairs:
        vetoed = veto(shape(pair.verified), shape(pair.asked)) is not None
        out.append(Scored(pair, cosine(vectors[pair.verified], vectors[pair.asked]), vetoed))
    return out


def report(name: str, scored: list[Scored]) -> tuple[float, list[list[object]]]:
    tune = [s for s in scored if not s.pair.held_out]
    held = [s for s in scored if s.pair.held_out]
    threshold = choose(tune)
    rows: list[list[object]] = []
    for part, items in (("tuning", tune), ("held out", held), ("all", scored)):
        p, r, right, wrong = measure(items, threshold)
        rows.append([name, part, f"{threshold:.2f}", f"{p:.3f}", f"{r:.3f}", right, wrong])
    # Without the veto, the threshold that keeps every near-miss out on the tuning part.
    bare = choose(tune, use_veto=False)
    p, r, right, wrong = measure(held, bare, use_veto=False)
    rows.append([f"{name}, no veto", "held out", f"{bare:.2f}", f"{p:.3f}", f"{r:.3f}", right, wrong])
    return threshold, rows


def missed(scored: list[Scored], threshold: float) -> list[str]:
    lines = []
    for s in scored:
        said = s.score >= threshold and not s.vetoed
        if said != s.pair.match:
            tag = "near-miss matched" if said else ("vetoed" if s.vetoed else "below")
            lines.append(f"  {tag:17} {s.score:.2f}  {s.pair.verified!r} ~ {s.pair.asked!r}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible embeddings endpoint")
    parser.add_argument("--no-embeddings", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--show", action="store_true", help="list the pairs judged wrong")
    args = parser.parse_args()
    pairs = load()
    kinds: dict[str, int] = {}
    for p in pairs:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    results: list[list[object]] = []
    chosen: dict[str, float] = {}
    runs: list[tuple[str, list[Scored]]] = [("words + trigrams", lexical(pairs))]
    if not args.no_embeddings:
        with embedding_server(args.base_url) as url:
            runs.append((EMBED_MODEL, asyncio.run(by_embeddings(pairs, url))))
    for name, scored in runs:
        threshold, rows = report(name, scored)
        chosen[name] = threshold
        results.extend(rows)
        if args.show:
            print(f"{name} at {threshold:.2f}:")
            print("\n".join(missed(scored, threshold)) or "  none")
    headers = ["matching", "pairs", "threshold", "precision", "recall", "matched", "wrong"]
    print(table(headers, results))
    if args.no_write:
        return
    held = sum(p.held_out for p in pairs)
    vetoed = sum(s.vetoed for s in runs[0][1] if s.pair.match)
    body = f"""
`{command_line()}` — {machine()}.

{len(pairs)} pairs in `bench/data/verified-pairs.jsonl`: {kinds.get("paraphrase", 0)} paraphrases
(the verified answer is right) and {len(pairs) - kinds.get("paraphrase", 0)} near-misses
({", ".join(f"{k} {n}" for k, n in sorted(kinds.items()) if k != "paraphrase")}): the same words
about another place, device or system, year or number, kind of leave or of person, the opposite
action, or a neighbouring topic. Every third pair ({held}) is held out; the threshold is chosen
on the other {len(pairs) - held}: {MARGIN} above the highest near-miss the veto lets through,
and applied unchanged to the held-out pairs. "no veto" is the same choice without the specifier/opposite
veto (core/verified/matching.py): the threshold then has to rise above the near-misses.

{table(headers, results)}

Precision first: a wrong verified answer is shown as an admin's word, so near-misses set the
threshold and recall is what is left. Words and trigrams find paraphrases that share words
("reserve a meeting room" / "book a meeting room"), not ones that share none ("On which day do
we get paid?" / "When is payday?"): with embeddings configured, recall is much higher. The
defaults (`SWITCHBOARD_VERIFIED_SIMILARITY`, `SWITCHBOARD_VERIFIED_TEXT_SIMILARITY`) are these
thresholds; another embedding model has another scale, so run this with it (`--base-url`,
the model served there) before trusting the default.

The veto costs {vetoed} of the {kinds.get("paraphrase", 0)} paraphrases (a word list
mistaking a plain word for a specifier). Its word lists were written by the same hands as the
pairs: the held-out third checks the thresholds, not the lists, so near-misses about places,
devices or systems the lists do not name are caught only by a capital letter, a number, or
the score. The "topic" near-misses (book a meeting room / book a desk) carry no specifier at
all: they are what sets the thresholds.
"""
    write_section("Verified answers", body)


if __name__ == "__main__":
    main()
