"""Whether an asked question means the same as a verified one.

Two scores, whichever the deployment has: the cosine of the two questions' embeddings, or —
without embeddings — full-text word overlap (stems, a few HR/IT synonyms folded) averaged with
character-trigram similarity (as pg_trgm computes it; our Postgres has no pg_trgm, and the
verified questions are few, so Python does it in microseconds).

Neither score sees what makes two questions different when they share almost every word:
"How many days of leave in Lisbon?" and "…in Berlin?" are close by any measure. So a match is
also vetoed when one question holds a *specifier* the other lacks — a place, a device or
system, a year or any number, a month, a kind of leave or of worker, an unknown proper noun —
or when the two hold opposite words (enable/disable, add/remove). A vetoed pair never matches,
however high its score: a wrong verified answer costs more than a model answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.text import STOPWORDS, terms

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)\s*[\"'(]*$")

# Several words that name one thing, written as one token before anything else is read.
_PHRASES = {
    "united states": "usa", "united kingdom": "uk", "great britain": "uk", "new york": "newyork",
    "san francisco": "sanfrancisco", "hong kong": "hongkong", "south africa": "southafrica",
    "new zealand": "newzealand", "mac os": "macos", "part time": "parttime",
    "part-time": "parttime", "full time": "fulltime", "full-time": "fulltime",
    "work from home": "remote", "working from home": "remote", "time off": "leave",
    "day off": "leave", "days off": "leave", "paid time off": "leave", "sign in": "login",
    "log in": "login", "log on": "login", "logon": "login", "signin": "login",
    "two factor": "mfa", "two-factor": "mfa", "2fa": "mfa", "multi-factor": "mfa",
    "multi factor": "mfa", "e-mail": "email", "pay slip": "payslip", "pay stub": "payslip",
    "virtual private network": "vpn", "wi-fi": "wifi", "wi fi": "wifi", "turn on": "enable", "switch on": "enable",
    "turn off": "disable", "switch off": "disable", "sign up": "enrol", "last year": "lastyear",
    "next year": "nextyear", "this year": "thisyear",
}
_PHRASE = re.compile(
    r"\b(" + "|".join(re.escape(p) for p in sorted(_PHRASES, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)

# Words that mean the same here, folded to the first of each group.
_SYNONYM_GROUPS = (
    ("leave", "vacation", "holiday", "holidays", "pto", "annual", "vacations"),
    ("laptop", "computer", "notebook", "pc"),
    ("password", "passcode", "passphrase"),
    ("reset", "recover", "forgot", "forgotten", "lost"),
    ("salary", "pay", "wage", "wages", "compensation", "payday"),
    ("payslip", "payslips", "payroll"),
    ("expense", "expenses", "reimbursement", "reimbursed", "claim", "claims"),
    ("phone", "mobile", "cellphone", "smartphone"),
    ("boss", "manager", "supervisor", "lead"),
    ("day", "days"),
    ("allowance", "entitlement", "entitled", "quota"),
    ("printer", "print", "printing"),
    ("wifi", "wireless"),
    ("onboarding", "onboard", "starter", "joiner"),
    ("sick", "ill", "illness", "sickness", "unwell"),
    ("parental", "maternity", "paternity"),
    ("benefit", "benefits", "perk", "perks"),
    ("contract", "contracts"),
    ("email", "mail", "inbox", "outlook"),
    ("request", "apply", "book", "ask"),
)
_SYNONYMS = {w: group[0] for group in _SYNONYM_GROUPS for w in group}

# Specifiers: a question holding one the other lacks asks about something else.
_PLACES = """
    lisbon porto berlin munich hamburg frankfurt paris lyon london manchester edinburgh dublin
    madrid barcelona milan rome amsterdam rotterdam brussels zurich geneva vienna prague warsaw
    krakow budapest bucharest sofia athens istanbul stockholm oslo copenhagen helsinki riga
    vilnius tallinn newyork sanfrancisco boston chicago seattle austin toronto vancouver montreal
    mexico saopaulo sydney melbourne auckland singapore hongkong tokyo osaka seoul shanghai
    beijing bangalore bengaluru mumbai delhi pune hyderabad chennai dubai capetown johannesburg
    portugal germany france spain italy netherlands belgium switzerland austria poland czechia
    hungary romania bulgaria greece turkey sweden norway denmark finland ireland uk usa
    canada brazil argentina chile colombia australia newzealand japan korea china india
    singapore uae israel egypt southafrica nigeria kenya england scotland wales emea apac
    latam americas europe asia africa hq headquarters
"""
_DEVICES = """
    mac macbook macos osx imac windows win10 win11 linux ubuntu chromebook chromeos iphone ipad
    ios android pixel samsung blackberry surface thinkpad dell lenovo hp ipados
"""
_KINDS = """
    unpaid sick parental bereavement compassionate jury sabbatical study adoption carer
    contractor contractors intern interns freelancer consultant temporary temp parttime fulltime
    apprentice trainee executive executives director directors bonus overtime commission
    desktop web browser teams slack zoom outlook gmail sharepoint onedrive confluence jira
    workday sap okta github gitlab salesforce vpn
    january february march april june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday weekend weekends christmas easter
    q1 q2 q3 q4 h1 h2 lastyear nextyear thisyear morning evening night overnight
    spouse partner child children dependant dependants parent parents
"""
_SPECIFIERS = frozenset((_PLACES + _DEVICES + _KINDS).split())
_DEVICE_FAMILY = {"macbook": "mac", "macos": "mac", "osx": "mac", "imac": "mac",
                  "win10": "windows", "win11": "windows", "us": "usa", "ipados": "ipad",
                  "contractors": "contractor", "interns": "intern", "executives": "executive",
                  "directors": "director", "weekends": "weekend", "children": "child",
                  "dependants": "dependant", "parents": "parent", "bengaluru": "bangalore",
                  "headquarters": "hq"}

# Opposites: one question holding one side and the other the other ask opposite things.
_OPPOSITES = (
    ("enable", "disable"), ("add", "remove"), ("add", "delete"), ("start", "stop"),
    ("start", "end"), ("join", "quit"), ("join", "resign"), ("before", "after"),
    ("increase", "decrease"), ("increase", "reduce"), ("maximum", "minimum"), ("max", "min"),
    ("upload", "download"), ("install", "uninstall"), ("subscribe", "unsubscribe"),
    ("lock", "unlock"), ("encrypt", "decrypt"), ("buy", "sell"), ("give", "receive"),
    ("cancel", "enrol"), ("approve", "reject"), ("send", "receive"), ("import", "export"),
    ("inside", "outside"), ("early", "late"), ("more", "less"), ("longer", "shorter"),
    ("carry", "forfeit"), ("internal", "external"), ("personal", "work"), ("private", "company"),
    ("domestic", "international"), ("promotion", "demotion"), ("hire", "fire"),
    ("new", "old"), ("new", "existing"), ("new", "former"), ("first", "second"),
    ("first", "last"),
)
_OPPOSITE_OF: dict[str, set[str]] = {}
for _a, _b in _OPPOSITES:
    _OPPOSITE_OF.setdefault(_a, set()).add(_b)
    _OPPOSITE_OF.setdefault(_b, set()).add(_a)
# Words the word lists above should not count as proper nouns when capitalised mid-sentence.
_US = re.compile(r"\bU\.?S\.?(?:A\.?)?\b")
_NOT_NAMES = frozenset(["i", "i'm", "i've", "i'd", "i'll", "ok", "hr", "it", "vpn"])


# What one does, not what about: words that alone do not make two questions one topic.
_ACTIONS = frozenset(
    ["request", "set", "setup", "submit", "find", "change", "update", "use", "make", "see", "report", "contact", "help", "get", "give", "go", "take", "check", "need", "work", "happen", "start", "apply", "access", "add", "new"]
)


@dataclass(frozen=True, slots=True)
class QuestionShape:
    """What of a question matching reads: content words (synonyms folded), trigrams,
    specifiers, and direction words — and the order of those last two, which tells "from
    London to Berlin" from "from Berlin to London". Built once per verified question."""

    text: str
    words: frozenset[str]
    trigrams: frozenset[str]
    specifiers: frozenset[str]
    directions: frozenset[str]
    order: tuple[str, ...] = ()


def _normal(text: str) -> str:
    lowered = " ".join(text.casefold().replace("’", "'").split())
    return _phrases(lowered)


def _phrases(text: str) -> str:
    return _PHRASE.sub(lambda m: _PHRASES[m.group(1).casefold()], text)


def _names(text: str) -> set[str]:
    """Capitalised words not at a sentence's start: proper nouns such as an office's name.
    A question written In Title Case has no telling capitals, so none are taken from it."""
    found: list[str] = []
    tokens = list(_TOKEN.finditer(text))
    capitalised = sum(1 for t in tokens if t.group(0)[:1].isupper())
    if tokens and capitalised * 2 > len(tokens):
        return set()
    for match in tokens:
        word = match.group(0)
        if not word[:1].isupper() or (word.isupper() and len(word) <= 5):
            continue  # lower case, or an acronym (VPN, PTO) a paraphrase may spell out
        if _SENTENCE_START.search(text[: match.start()]):
            continue
        lowered = word.casefold()
        if lowered not in _NOT_NAMES and lowered not in STOPWORDS:
            found.append(lowered)
    return set(found)


def _trigrams(words: Sequence[str]) -> frozenset[str]:
    grams: set[str] = set()
    for word in words:
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def shape(text: str) -> QuestionShape:
    normal = _normal(text)
    raw_tokens = [t.group(0) for t in _TOKEN.finditer(normal)]
    content = [_SYNONYMS.get(w, w) for w in terms(normal)]
    specifiers = {_DEVICE_FAMILY.get(t, t) for t in raw_tokens if t in _SPECIFIERS}
    specifiers |= {t for t in raw_tokens if any(ch.isdigit() for ch in t)}
    specifiers |= {_DEVICE_FAMILY.get(n, n) for n in _names(_phrases(text))}
    if _US.search(text):
        specifiers.add("usa")  # "US" in capitals is the country, "us" is a pronoun
    directions = {t for t in raw_tokens if t in _OPPOSITE_OF}
    telling = specifiers | directions
    order = tuple(dict.fromkeys(_DEVICE_FAMILY.get(t, t) for t in raw_tokens
                                if _DEVICE_FAMILY.get(t, t) in telling))
    return QuestionShape(
        text=text,
        words=frozenset(content),
        trigrams=_trigrams(sorted(set(content))),
        specifiers=frozenset(specifiers),
        directions=frozenset(directions),
        order=order,
    )


def veto(a: QuestionShape, b: QuestionShape) -> str | None:
    """Why ``a`` and ``b`` cannot mean the same, or None. A specifier held by one only
    ("berlin", "2024", "mac") or a pair of opposites (enable/disable) decides it."""
    # A proper noun the other question spells as a plain word ("the Acme portal" / "acme
    # portal") is shared, not distinguishing.
    only = {
        w for w in a.specifiers ^ b.specifiers
        if w not in (b.words if w in a.specifiers else a.words)
    }
    if only:
        return "specifier:" + ",".join(sorted(only))
    for word in a.directions - b.directions:
        if _OPPOSITE_OF[word] & b.directions:
            return f"opposite:{word}"
    # The same telling words in another order: "personal phone for work" is not "work phone
    # for personal calls", nor "from Lisbon to Berlin" "from Berlin to Lisbon".
    shared = set(a.order) & set(b.order)
    if [w for w in a.order if w in shared] != [w for w in b.order if w in shared]:
        return "order"
    return None


def text_similarity(a: QuestionShape, b: QuestionShape) -> float:
    """Word overlap (cosine of the content-word sets) averaged with trigram similarity; 0
    unless the two share a topic word: "book a desk" and "request time off" share only what
    one does, not what it is about."""
    if not (a.words & b.words) - _ACTIONS:
        return 0.0
    shared = len(a.words & b.words)
    words = shared / math.sqrt(len(a.words) * len(b.words))
    union = len(a.trigrams | b.trigrams)
    grams = len(a.trigrams & b.trigrams) / union if union else 0.0
    return (words + grams) / 2


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
