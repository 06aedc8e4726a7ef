"""Who a Teams person is: their Entra object id (the activity's ``from.aadObjectId``, already
their user id) and their email or user principal name from the Bot Connector's member record
(``GET /v3/conversations/{id}/members/{member}``, what ``TeamsInfo.get_member`` reads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botframework.connector.auth import ConnectorFactory

from core.events import Person
from core.identity import Identity

log = structlog.get_logger(__name__)


class TeamsIdentities:
    """A ``core.identity.IdentityResolver`` over the Bot Connector.

    The Bot Connector has no published per-call budget like Slack's, so ``now`` makes no
    difference: the lookup is one quick call, bounded by ``People``'s inline timeout.
    """

    def __init__(self, connectors: ConnectorFactory) -> None:
        self._connectors = connectors

    async def resolve(
        self, person: Person, extras: Mapping[str, object], *, now: bool
    ) -> Identity | None:
        service_url = str(extras.get("service_url") or "")
        conversation = str(extras.get("teams_conversation_id") or "")
        member = str(extras.get("teams_user_id") or "")
        if not (service_url and conversation and member):
            return None
        client = await self._connectors.create(service_url)
        account = await client.conversations.get_conversation_member(conversation, member)
        return identity_of(account, person.user_id)


def identity_of(account: Any, user_id: str) -> Identity:
    fields = {**(getattr(account, "additional_properties", None) or {})}
    for name in ("email", "user_principal_name", "aad_object_id"):
        value = getattr(account, name, None)
        if value:
            fields[name] = value
    email = fields.get("email") or fields.get("userPrincipalName") or fields.get(
        "user_principal_name"
    )
    entra = fields.get("aadObjectId") or fields.get("aad_object_id")
    if not entra and not user_id.startswith(("29:", "8:")):
        entra = user_id  # the activity's aadObjectId is already the person's id
    return Identity(
        email=str(email).strip().lower() if email and "@" in str(email) else None,
        entra_id=str(entra) if entra else None,
    )


async def mentioned_people(turn_context: TurnContext, mentions: Sequence[str]) -> tuple[str, ...]:
    """The @-mentioned people as the core knows them (``role @someone admin``).

    A mention carries the Teams user id (``29:…``); a person is known by their Entra object id
    (``activities.user_key``), so each mention's member record is read for it. A mention whose
    record cannot be read keeps its Teams id.
    """
    found: list[str] = []
    for mention in mentions:
        if not mention.startswith(("29:", "8:")):
            found.append(mention)
            continue
        try:
            member = await TeamsInfo.get_member(turn_context, mention)
        except Exception as exc:  # noqa: BLE001 — the command still runs, on the Teams id
            log.warning("teams_mention_lookup_failed", error=repr(exc))
            member = None
        found.append(str(getattr(member, "aad_object_id", None) or mention))
    return tuple(found)
