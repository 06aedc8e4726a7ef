"""People's time zones from their Slack profiles, so "Today" is their today."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bots.slack.calls import SlackCalls


class Timezones:
    """Each person's zone name (``users.info``), asked once and remembered; UTC when Slack
    does not say or the workspace's budget has no room for the call now."""

    def __init__(self, calls: SlackCalls) -> None:
        self._calls = calls
        self._names: dict[tuple[str, str], str] = {}

    def name(self, team: str, user: str) -> str | None:
        """The zone already known for the person, if any."""
        return self._names.get((team, user))

    async def of(self, team: str, token: str | None, user: str) -> ZoneInfo:
        name = self._names.get((team, user))
        if name is None:
            response = await self._calls.if_room(
                team, "users.info", token=token, form=True, user=user
            )
            if response is not None:
                name = str((response.get("user") or {}).get("tz") or "UTC")
                self._names[(team, user)] = name
        try:
            return ZoneInfo(name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")
