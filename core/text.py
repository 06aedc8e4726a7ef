"""Small text helpers shared by the lexical router and the extractive answerer."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n{1,}")

STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours out over own
    same she should so some such than that the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself hi hello hey please thanks thank tell
    know need want get got let us i'm im can't cant don't dont much many also""".split()
)

# How a question is asked, not what it is about: these never decide whether a passage is.
# Questions come with instructions too ("answer in percent, rounded to one decimal place",
# "according to the documentation").
ASKING = frozenset(
    """long often mean means meaning must may might happen happens possible able allowed way
    ways find explain describe described give given example difference answer answers
    question questions response respond reply calculate calculated compute round rounded
    decimal decimals place places unit units percent percents percentage based using use
    used rely relying relies shown show shows stated state states statement detail details
    information info according documentation docs document documents mentioned mention
    provide provided assume assuming primarily following defined definition formula
    specifically specific key main one two three several""".split()
) | frozenset(
    # Comparing, ranking and judging: the frame of the question, seldom the documents' words
    # ("which region had the worst…", "how does X differ from Y", "what drove…").
    """compare compared compares comparing comparison versus vs differ differs different
    biggest largest smallest highest lowest worst best most least better worse greater
    drove drive drives driven driver drivers reason reasons why roughly approximately
    approximate quickly thing things overall generally typically""".split()
) | frozenset(
    # The unit an answer is to be given in, and a period's label written apart ("FY 2023").
    """usd eur gbp million millions billion billions thousand thousands fy""".split()
)


def clean(text: str) -> str:
    """Drop control and format characters (keeping newlines and tabs) and trim."""
    kept = [
        ch
        for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co"}
    ]
    return "".join(kept).strip()


def _stem(word: str) -> str:
    # A light touch: plurals only, so "laptops" meets "laptop" and "policies" meets "policy".
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Lower-cased content words of ``text``, stopwords dropped, plurals folded."""
    return [
        _stem(w)
        for w in (m.group(0).lower() for m in _WORD.finditer(text))
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit())
    ]


def _fold(word: str) -> str:
    # A little further than _stem, for matching a question with a passage's sentences:
    # "booking" meets "book", "locked" meets "lock", "connection" meets "connect"; a final
    # "e" goes too, so "arrive" meets "arrival" and "arriving", "include" meets "including".
    for suffix, keep in (("ations", 5), ("ation", 5), ("ings", 4), ("ing", 4), ("ed", 4),
                         ("ly", 4), ("al", 5)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep - 1:
            return word[: -len(suffix)]
    return word[:-1] if word.endswith("e") and len(word) >= 5 else word


def match_terms(text: str) -> list[str]:
    """``terms`` folded further (verb and noun endings), for matching rather than routing."""
    return [_fold(t) if not any(ch.isdigit() for ch in t) else t for t in terms(text)]


def sentences(text: str) -> list[str]:
    """Split prose into sentences and list items, dropping Markdown heading marks."""
    out = []
    for part in _SENTENCE_END.split(text):
        part = part.strip().lstrip("#").strip()
        part = re.sub(r"^([-*•]|\d+[.)])\s+", "", part)
        if part:
            out.append(part)
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(value: object) -> object:
    """``value`` — a string, or JSON-like lists and dicts of them — without what Postgres text
    and JSON cannot hold: NUL characters are dropped, lone surrogates become U+FFFD."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return value
