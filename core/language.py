"""Which language a question is in, cheaply: the asker's locale when the platform gave one,
else the question's own function words. Only the languages the offline notes speak are
told apart; anything else is taken as English."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# Short, frequent words that are not English words as well ("a", "die", "me" are left out).
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "fr": frozenset(
        "le la les des du un une est sont je tu nous vous ils elle avec pour dans sur pas "
        "combien quel quelle quels quelles comment où qui que quoi mon ma mes ton votre vos "
        "leur au aux ce cette ces puis peut faut jours jour congé congés avoir être "
        "est-ce qu'est-ce".split()
    ),
    "de": frozenset(
        "der die das den dem des ein eine einen einem ist sind ich du wir ihr sie mit für "
        "auf nicht wie viele viel wann wo wer was welche welcher welches mein meine kann "
        "muss bei von zu zum zur und oder ich habe bekomme urlaub tage".split()
    ),
    "pt": frozenset(
        "o os as um uma é são eu nós você vocês com para em no na nos nas não quantos "
        "quantas quanto como onde quem qual quais meu minha posso tenho dias férias do da "
        "dos das ao pelo pela".split()
    ),
}
_NAMES = {"fr": "French", "de": "German", "pt": "Portuguese"}

# What the offline answer says first to someone who asked in another language.
ENGLISH_PASSAGES = {
    "fr": "_Les documents de l'entreprise sont en anglais : voici les passages tels quels. "
          "(The company documents are in English.)_",
    "de": "_Die Unternehmensdokumente sind auf Englisch: Hier sind die Passagen im Original. "
          "(The company documents are in English.)_",
    "pt": "_Os documentos da empresa estão em inglês: aqui estão os trechos originais. "
          "(The company documents are in English.)_",
}


def language_of(text: str, locale: str | None = None) -> str | None:
    """``"fr"``, ``"de"`` or ``"pt"`` when the question is in one of them, else ``None``.

    A locale (``fr-FR``, ``pt_BR``) decides only when the text itself does not: someone
    with a French Slack may still ask in English.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    if words:
        counts = {lang: sum(w in vocab for w in words) for lang, vocab in _FUNCTION_WORDS.items()}
        lang, hits = max(counts.items(), key=lambda item: item[1])
        english = sum(w in _ENGLISH for w in words)
        if hits >= 2 and hits > english:
            return lang
        if english >= 2 or hits < 2 and english:
            return None
    if locale:
        code = locale.replace("_", "-").split("-")[0].lower()
        return code if code in _FUNCTION_WORDS else None
    return None


def language_name(code: str) -> str:
    return _NAMES.get(code, code)


_ENGLISH = frozenset(
    "the is are do does how what when where which who can i my we you your to of in for on "
    "with and or not get have many much long".split()
)
