"""Who a Teams person is: their Entra object id (the activity's ``from.aadObjectId``, already
their user id) and their email or user principal name from the Bot Connector's member record
(``GET /v3/conversations/{id}/members/{member}``, what ``TeamsInfo.get_member`` reads)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botframework.connector.auth import ConnectorFactory

from core.events import Person
from core.identity import Identity


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
