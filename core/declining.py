"""What a declined question gets: a plain "the documents don't cover this" and where to ask
instead, with no passages that would only look like an answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.routing import Domain

# In the asker's language when it is one of these: the documents are in English, so asking
# in English may find what a question in another language could not.
_IN_ENGLISH = {
    "fr": "_Les documents de l'entreprise sont en anglais : reformuler la question en anglais "
          "peut aider. (The company documents are in English.)_\n\n",
    "de": "_Die Unternehmensdokumente sind auf Englisch: Eine Frage auf Englisch findet "
          "vielleicht mehr. (The company documents are in English.)_\n\n",
    "pt": "_Os documentos da empresa estão em inglês: perguntar em inglês pode ajudar. "
          "(The company documents are in English.)_\n\n",
}


class HelpContacts:
    """Who to ask when the documents have no answer, per domain: the setting's entry
    (``SWITCHBOARD_HELP_CONTACTS``), else the domains file's ``contact``, else the default."""

    def __init__(
        self, domains: Sequence[Domain], overrides: Mapping[str, str], default: str
    ) -> None:
        self._contacts = {d.name: d.contact for d in domains if d.contact}
        self._contacts.update({k: v for k, v in overrides.items() if v})
        self._default = default

    def for_domain(self, domain: str | None) -> str:
        return self._contacts.get(domain or "", self._default)


def not_found_text(contact: str, language: str | None = None) -> str:
    """The answer to a question the documents don't cover."""
    return _IN_ENGLISH.get(language or "", "") + (
        "I couldn't find anything about that in the company documents I can search: they "
        f"don't seem to cover it, so I won't guess. Please ask {contact}."
    )
