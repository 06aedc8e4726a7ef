"""Principals: who a document is for, and who a person is to a document.

A principal is a lower-case email (``alice@example.com``) or a group
(``group:<Entra group id or display name>``); ``everyone`` makes a document public. A person's
principals are their confirmed email and, when groups come from Microsoft Graph, each group's
id and display name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.errors import SwitchboardError
from core.events import Person

EVERYONE = "everyone"
GROUP = "group:"
_EMAIL = re.compile(r"^[^@\s:]+@[^@\s:]+\.[^@\s:]+$")


class UnknownPrincipal(SwitchboardError):
    """``--allow`` was given something that is neither an email, ``group:...`` nor
    ``everyone``."""

    def __init__(self, principal: str) -> None:
        super().__init__(
            f"`{principal}` is not a principal I know: use an email (alice@example.com), "
            "group:<Entra group id or name> (group:HR Managers), or everyone. Nothing was ingested."
        )
        self.principal = principal


def parse_principal(text: str) -> str:
    """``text`` as stored: trimmed and lower-cased; raises ``UnknownPrincipal``."""
    value = " ".join(text.split()).lower()
    if value == EVERYONE:
        return value
    if value.startswith(GROUP):
        name = value[len(GROUP):].strip()
        if name:
            return GROUP + name
    elif _EMAIL.match(value):
        return value
    raise UnknownPrincipal(text.strip())


def audience_of(principals: Iterable[str]) -> tuple[str, ...] | None:
    """The stored audience for ``--allow`` values: None (everyone) when ``everyone`` is among
    them, else the principals, sorted and unique. Raises ``UnknownPrincipal`` on the first bad
    one, so nothing is ingested under a mistyped audience."""
    parsed = [parse_principal(p) for p in principals]
    if EVERYONE in parsed:
        return None
    return tuple(sorted(set(parsed)))


def group_principals(ids_and_names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({GROUP + " ".join(v.split()).lower() for v in ids_and_names if v.strip()}))


@dataclass(frozen=True, slots=True)
class Scope:
    """What one person may read: their principals (public documents always).

    ``checked`` is False when their groups could not be looked up (Microsoft Graph down):
    then ``principals`` is empty, so only public documents are searched, and the answer says
    some sources could not be checked. ``key`` tells cached answers of different audiences
    apart.
    """

    principals: tuple[str, ...] = ()
    checked: bool = True

    @property
    def key(self) -> str:
        if not self.principals:
            return EVERYONE
        return hashlib.sha256("\n".join(self.principals).encode()).hexdigest()[:24]

    @classmethod
    def of(cls, principals: Sequence[str], *, checked: bool = True) -> Scope:
        return cls(tuple(sorted(set(principals))) if checked else (), checked)


EVERYONE_SCOPE = Scope()


class AudienceSetter(Protocol):
    """Records who may read what is stored under a target (``store.audiences.PgAudiences``)."""

    async def allow(
        self, target: str, audience: Sequence[str] | None, *, set_by: str = "cli"
    ) -> int: ...


class PersonIdentifier(Protocol):
    """Fills in who a person is (``core.identity.People.identified``)."""

    async def identified(self, person: Person, extras: Mapping[str, object]) -> Person: ...
