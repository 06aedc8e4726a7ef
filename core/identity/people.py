"""Who is asking: each person's confirmed email (and Entra object id), from their platform,
remembered for a while, and what that lets them read.

A platform resolves its people (``IdentityResolver``: Slack ``users.info``, Teams the Bot
Connector's member record); ``People`` keeps what it learned in a cache with a TTL, so a
person already known never waits on their platform. A new person is resolved on the answer's
path only when the platform has room for the call right now and it is quick; otherwise their
first answer is given with the "everyone" scope (public documents) and they are resolved in
the background, paced by the platform's own budget.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from core.events import ChatEvent, ConversationKind, Person
from core.identity import forgetting
from core.identity.groups import Groups, groups_key
from core.identity.principals import EVERYONE_SCOPE, Scope, group_principals

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Identity:
    """What a platform says about a person: their confirmed email (None when the platform has
    none it vouches for), their Entra object id (Teams) and their locale (``fr-FR``; Slack's
    ``users.info`` with ``include_locale``), kept with the person so answers are written in
    their language."""

    email: str | None = None
    entra_id: str | None = None
    locale: str | None = None

    def to_json(self) -> str:
        return json.dumps({"email": self.email, "entra_id": self.entra_id, "locale": self.locale})

    @classmethod
    def from_json(cls, raw: str) -> Identity:
        data = json.loads(raw)
        return cls(
            email=data.get("email"), entra_id=data.get("entra_id"), locale=data.get("locale")
        )


class NotNow(Exception):
    """The platform has no room for the call now; ask again in ``retry_after`` seconds."""

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__(f"try again in {retry_after:.1f}s")
        self.retry_after = retry_after


class IdentityResolver(Protocol):
    """A platform's way to learn who ``person`` is (``extras``: the platform's leftovers of
    the event or command they sent).

    ``now``: answer at once or raise ``NotNow`` (the answer is waiting; never wait for the
    platform's budget). Otherwise wait for the budget. Returns None when the person cannot be
    looked up at all; raises on a failed call (tried again later).
    """

    async def resolve(
        self, person: Person, extras: Mapping[str, object], *, now: bool
    ) -> Identity | None: ...


class TtlCache(Protocol):
    """Strings under keys for a while: Redis when configured (shared by replicas), in-process
    otherwise (``store.ttl_cache``)."""

    async def get(self, key: str) -> str | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[str | None]: ...

    async def set(self, key: str, value: str, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...


_SHARED = frozenset({ConversationKind.CHANNEL, ConversationKind.GROUP})


def person_key(person: Person) -> str:
    return account_key(person.platform, person.workspace_id, person.user_id)


def account_key(platform: str, workspace_id: str, user_id: str) -> str:
    return f"identity:{platform}:{workspace_id}:{user_id}"


class People:
    """Resolves, caches and scopes the people who ask.

    ``merge``: the same confirmed email on two platforms is one person (``Person.account`` is
    set to it, and the conversation store records both under one user). ``inline_timeout``:
    how long an answer may wait for a new person's platform lookup.
    """

    def __init__(
        self,
        cache: TtlCache,
        *,
        groups: Groups | None = None,
        ttl: float = 86400.0,
        merge: bool = True,
        inline_timeout: float = 2.0,
        retry_s: float = 60.0,
    ) -> None:
        self._cache = cache
        self._groups = groups
        self._ttl = ttl
        self._merge = merge
        self._inline_timeout = inline_timeout
        self._retry_s = retry_s
        self._resolvers: dict[str, IdentityResolver] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._given: dict[str, tuple[str, ...]] = {}

    def register(self, platform: str, resolver: IdentityResolver) -> None:
        self._resolvers[platform] = resolver

    async def identify(self, event: ChatEvent) -> tuple[ChatEvent, Scope]:
        """``event`` with its person's email filled in (when known), their locale when the
        platform did not send one, and what they may read.

        An answer in a channel or group chat is read by everyone there, so it is drawn from
        public documents only, whoever asks.
        """
        identity = None
        if not event.person.email or not event.locale:
            identity = await self.identity(event.person, event.extras)
        person = self._identified(event.person, identity)
        event = replace(event, person=person, locale=event.locale or _locale(identity))
        if event.thread.kind in _SHARED:
            return event, EVERYONE_SCOPE
        return event, await self.scope(person)

    async def identified(self, person: Person, extras: Mapping[str, object]) -> Person:
        """``person`` with their confirmed email and Entra id, when known.

        An email the caller gave itself (``switchboard ask --as``) decides what they may read
        but never joins them to that person's record on the platforms.
        """
        if person.email:
            return person
        return self._identified(person, await self.identity(person, extras))

    def _identified(self, person: Person, identity: Identity | None) -> Person:
        if person.email:
            return person
        if identity is not None and identity.email:
            email = identity.email.strip().lower()
            return replace(
                person,
                email=email,
                entra_id=identity.entra_id or person.entra_id,
                account=email if self._merge else None,
            )
        if identity is not None and identity.entra_id:
            return replace(person, entra_id=identity.entra_id)
        return person

    async def identity(self, person: Person, extras: Mapping[str, object]) -> Identity | None:
        """The cached identity; else a quick lookup if the platform has room; else None now
        and a paced lookup in the background."""
        resolver = self._resolvers.get(person.platform)
        if resolver is None:
            return None
        key = person_key(person)
        # A person not known yet is looked up; the mark that lookup needs comes along.
        cached, mark = await forgetting.kept_and_mark(self._cache, key)
        if cached is not None:
            return Identity.from_json(cached)
        if key in self._pending:
            return None
        extras = dict(extras)  # kept by the background lookup after the event is gone
        try:
            identity = await asyncio.wait_for(
                resolver.resolve(person, extras, now=True), self._inline_timeout
            )
        except NotNow:
            self._later(key, resolver, person, extras, mark)
            return None
        except Exception as exc:  # noqa: BLE001 — a slow or failing platform: the answer goes on
            log.info("identity_deferred", platform=person.platform, error=repr(exc))
            self._later(key, resolver, person, extras, mark)
            return None
        await self._remember(key, identity, mark)
        return identity

    async def scope(self, person: Person) -> Scope:
        """The person's principals: email and, with groups configured, their groups. Groups
        that cannot be checked close restricted documents to them (``Scope.checked``)."""
        if not person.email:
            return EVERYONE_SCOPE
        email = person.email.strip().lower()
        principals = [email, *self._given.get(email, ())]
        if self._groups is None:
            return Scope.of(principals)
        found = await self._groups.of(person.entra_id or email)
        if found is None:
            return Scope.of(principals, checked=False)
        return Scope.of([*principals, *found])

    def assume(self, email: str, groups: Sequence[str]) -> None:
        """Treat ``email`` as a member of ``groups`` besides what the directory says
        (``switchboard ask --as EMAIL --group NAME``: tests and demos)."""
        self._given[email.strip().lower()] = group_principals(groups)

    async def forget(self, person: Person) -> None:
        await self.forget_accounts(
            [(person.platform, person.workspace_id, person.user_id)],
            emails=[person.email] if person.email else [],
            entra_ids=[person.entra_id] if person.entra_id else [],
        )

    async def forget_accounts(
        self,
        accounts: Sequence[tuple[str, str, str]],
        *,
        emails: Sequence[str] = (),
        entra_ids: Sequence[str] = (),
    ) -> None:
        """Forget what is remembered about a person (``forget-me``): the identity each of
        their platform accounts (platform, workspace, user id) resolved to, their groups, and
        groups given to their email (``assume``). Lookups still running for them are stopped,
        so none writes the identity back afterwards, and lookups under way on other replicas
        find the entry marked forgotten and do not write it either (``forgetting``)."""
        keys = [account_key(*account) for account in accounts]
        for key in keys:
            task = self._pending.pop(key, None)
            if task is not None:
                task.cancel()
        for email in emails:
            self._given.pop(email.strip().lower(), None)
        for key in keys:
            await forgetting.forget(self._cache, key, self._ttl)
        for who in (*emails, *entra_ids):
            if not who:
                continue
            if self._groups is not None:
                await self._groups.forget(who)
            else:
                await self._cache.delete(groups_key(who))

    async def aclose(self) -> None:
        for task in list(self._pending.values()):
            task.cancel()
        await asyncio.gather(*self._pending.values(), return_exceptions=True)
        if self._groups is not None:
            await self._groups.aclose()

    async def _remember(self, key: str, identity: Identity | None, mark: str | None) -> None:
        # "Not found" is remembered too, so an unknown person does not cost a call a question.
        value = (identity or Identity()).to_json()
        await forgetting.keep(self._cache, key, value, self._ttl, mark)

    def _later(
        self, key: str, resolver: IdentityResolver, person: Person,
        extras: Mapping[str, object], mark: str | None,
    ) -> None:
        """Look ``person`` up in the background; ``mark`` was read before the question's own
        try, so a forget-me since then stops this lookup's write as well."""
        if key not in self._pending:
            self._pending[key] = asyncio.create_task(
                self._resolve_later(key, resolver, person, extras, mark)
            )

    async def _resolve_later(
        self, key: str, resolver: IdentityResolver, person: Person,
        extras: Mapping[str, object], mark: str | None,
    ) -> None:
        try:
            for attempt in range(5):
                try:
                    found = await resolver.resolve(person, extras, now=False)
                    await self._remember(key, found, mark)
                    return
                except NotNow as wait:
                    await asyncio.sleep(wait.retry_after)
                except Exception as exc:  # noqa: BLE001 — tried again, paced
                    log.warning("identity_lookup_failed", error=repr(exc))
                    # 1, 4, 16 seconds…: a blip heals fast, an outage is not hammered.
                    await asyncio.sleep(min(self._retry_s, 4.0**attempt))
        finally:
            if self._pending.get(key) is asyncio.current_task():
                self._pending.pop(key, None)

    async def settled(self) -> None:
        """Wait for the lookups in the background (tests, shutdown)."""
        tasks: list[Awaitable[None]] = list(self._pending.values())
        await asyncio.gather(*tasks, return_exceptions=True)


def _locale(identity: Identity | None) -> str | None:
    return identity.locale if identity is not None else None
