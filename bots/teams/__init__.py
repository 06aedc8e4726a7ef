"""Microsoft Teams adapter: Bot Framework activities in, ChatEvents to the core, streamed answers out.

``mount_teams(app, runtime)`` adds ``POST /api/messages`` to the server. The modules, in the
order a message meets them: ``auth`` (Bot Connector JWT), ``app`` (the route and botbuilder's
CloudAdapter), ``bot`` (the turn handler), ``activities`` (activity → ChatEvent), ``stream`` /
``edits`` (the ReplyStreams), ``answers`` (its part in the core's lifecycle), ``cards``
(entities, citations, cards), ``delivery`` (retries), ``connector`` / ``credentials``
(outgoing calls and the bot's msal token), ``references`` (conversation references and
message ids, stored by ``store.teams``), ``feedback``, ``proactive``, ``package``;
``settings`` and ``platform`` (its registry entry, ``bots/platforms.py``).
"""

from bots.teams.app import TEAMS, TeamsApp, mount_teams

__all__ = ["TEAMS", "TeamsApp", "mount_teams"]
