"""Who is asking: identities from the platforms, groups from Graph, and the principals
that decide which documents a person may read."""

from core.identity.people import Identity, IdentityResolver, NotNow, People
from core.identity.principals import EVERYONE_SCOPE, Scope, UnknownPrincipal, audience_of

__all__ = [
    "EVERYONE_SCOPE", "Identity", "IdentityResolver", "NotNow", "People", "Scope",
    "UnknownPrincipal", "audience_of",
]
