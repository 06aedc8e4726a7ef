"""A per-workspace budget for Slack Web API calls, so many answers at once stay inside the tiers.

Slack limits each method per app per workspace over a one-minute window (Tier 2: 20 calls,
Tier 3: 50, Tier 4: 100) and ``chat.postMessage`` to about one a second per channel. Every
stream in a workspace shares those budgets, across replicas too. A caller *reserves* the next
free slot for a method and waits until it comes: slots are handed out so that no window of the
method's length ever holds more calls than its limit (a sliding log, in order of reservation).
A 429 seen anyway closes the method's budget for ``Retry-After`` seconds for everyone.

With Redis the log lives there (one Lua script, Redis's own clock, shared by all replicas);
without it, in this process.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import defaultdict
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bots.slack.append_share import AppendShare

log = structlog.get_logger(__name__)

# Slack's published tiers, calls a minute per app per workspace.
TIER = {1: 1, 2: 20, 3: 50, 4: 100}
METHOD_TIER: dict[str, int] = {
    "chat.startStream": 2,
    "chat.stopStream": 2,
    "chat.appendStream": 4,
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "assistant.threads.setStatus": 4,
    "assistant.threads.setSuggestedPrompts": 4,
    "assistant.threads.setTitle": 4,
    "views.publish": 4,
    "views.open": 4,
    "views.update": 4,
    "conversations.open": 3,
    "users.info": 4,
    "files.getUploadURLExternal": 2,
    "files.completeUploadExternal": 2,
}
# chat.postMessage is limited per channel: about one a second, with short bursts.
POST_MESSAGE = "chat.postMessage"
POST_MESSAGE_BURST = 5
POST_MESSAGE_SPAN = 1 / 12  # of the window: five in five seconds

NEVER = math.inf


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``limit`` calls in any ``window_s`` seconds for ``key``."""

    key: str
    limit: int
    window_s: float


class _LocalSlots:
    """The sliding log in this process (single replica, or Redis unreachable)."""

    def __init__(self) -> None:
        self.slots: dict[str, list[float]] = defaultdict(list)
        self._blocked: dict[str, float] = {}

    def reserve(self, budget: Budget, max_wait: float, keep: int = 0) -> float | None:
        now = time.monotonic()
        slots = self.slots[budget.key]
        del slots[: bisect.bisect_right(slots, now - budget.window_s)]
        limit = max(1, budget.limit - keep)
        slot = max(now, self._blocked.get(budget.key, 0.0))
        if slots:
            slot = max(slot, slots[-1])
        if len(slots) >= limit:
            slot = max(slot, slots[len(slots) - limit] + budget.window_s)
        if slot - now > max_wait:
            return None
        slots.append(slot)  # slots only grow, so the log stays sorted
        return slot - now

    def block(self, key: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        self._blocked[key] = max(self._blocked.get(key, 0.0), until)


# KEYS[1] the log (a list of slot times, ascending), KEYS[2] the "blocked until" time.
# ARGV: limit (less the slots kept for others), window seconds, max wait seconds. Returns the
# wait in seconds, or, when that is more than the max wait, minus it (nothing reserved).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if head and tonumber(head) <= now - window then redis.call('LPOP', KEYS[1]) else break end
end
local slot = math.max(now, tonumber(redis.call('GET', KEYS[2]) or '0'))
local n = redis.call('LLEN', KEYS[1])
if n > 0 then slot = math.max(slot, tonumber(redis.call('LINDEX', KEYS[1], -1))) end
if n >= limit then
  slot = math.max(slot, tonumber(redis.call('LINDEX', KEYS[1], n - limit)) + window)
end
if slot - now > max_wait then return string.format('-%.6f', slot - now) end
redis.call('RPUSH', KEYS[1], string.format('%.6f', slot))
redis.call('PEXPIRE', KEYS[1], math.ceil((slot - now + window) * 1000) + 1000)
return string.format('%.6f', slot - now)
"""

_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local seconds = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + seconds > current then
  redis.call('SET', KEYS[1], string.format('%.6f', now + seconds),
             'PX', math.ceil(seconds * 1000) + 1000)
end
return 1
"""


class SlackPacer:
    """Hands out slots for Slack Web API calls per workspace and method.

    ``window_s`` is Slack's rate-limit window (a minute); ``margin`` widens it a little so
    calls that leave on the edge of a window still arrive inside Slack's count.
    """

    def __init__(
        self, *, window_s: float = 60.0, margin: float = 0.02, redis: Redis | None = None
    ) -> None:
        self._window = window_s * (1 + margin) + 0.05
        self._redis = redis
        self._local = _LocalSlots()
        # When Redis last said a method's next free slot (for a limit) comes: until then, a
        # call that may not wait that long is turned down here, without asking again. Others
        # can only take slots meanwhile, so the slot cannot come sooner. In a burst most
        # niceties (statuses, streams, progress updates) are turned down, many times over.
        self._refused: dict[tuple[str, int], float] = {}
        # How often each stream may append, sharing Tier 4 evenly (bots/slack/append_share.py).
        self.appends = AppendShare(
            window_s=self._window, limit=TIER[4], redis=redis, local_log=self._local.slots
        )
        if redis is not None:
            self._reserve_script = redis.register_script(_RESERVE)
            self._block_script = redis.register_script(_BLOCK)

    def budget(self, team_id: str, method: str, channel: str | None = None) -> Budget | None:
        """The budget a call spends, or None when the method is not one we pace."""
        if method == POST_MESSAGE:
            return Budget(
                f"sb:slack:pace:{team_id}:{method}:{channel or '-'}",
                POST_MESSAGE_BURST,
                self._window * POST_MESSAGE_SPAN,
            )
        tier = METHOD_TIER.get(method)
        if tier is None:
            return None
        return Budget(f"sb:slack:pace:{team_id}:{method}", TIER[tier], self._window)

    async def reserve(
        self,
        team_id: str,
        method: str,
        *,
        channel: str | None = None,
        max_wait: float = NEVER,
        keep: int = 0,
    ) -> float | None:
        """Reserve the next slot; return how many seconds until it, or None (nothing reserved)
        when that would be more than ``max_wait``. ``keep`` leaves that many of the window's
        slots to others: a call that is only nice to have does not take the last ones."""
        budget = self.budget(team_id, method, channel)
        if budget is None:
            return 0.0
        if self._redis is not None:
            limit = max(1, budget.limit - keep)
            refused = (budget.key, limit)
            free_at = self._refused.get(refused)
            if free_at is not None:
                if free_at - time.monotonic() > max_wait:
                    return None
                del self._refused[refused]
            try:
                raw = await self._reserve_script(
                    keys=[budget.key, budget.key + ":blocked"],
                    args=[limit, budget.window_s, min(max_wait, 1e9)],
                )
                wait = float(raw)
                if wait < 0:
                    self._refused[refused] = time.monotonic() - wait
                    return None
                return wait
            except (RedisError, OSError) as exc:
                log.warning("pacing_redis_unavailable", error=str(exc))
        return self._local.reserve(budget, max_wait, keep)

    async def append_interval(self, team_id: str, stream_id: str, base_s: float) -> float:
        """How long one stream waits between appends, sharing Tier 4 with every stream in
        its workspace (``bots/slack/append_share.py``)."""
        budget = self.budget(team_id, "chat.appendStream")
        assert budget is not None
        return await self.appends.interval(team_id, stream_id, base_s, budget.key)

    async def acquire(self, team_id: str, method: str, *, channel: str | None = None) -> None:
        """Wait for the next slot."""
        wait = await self.reserve(team_id, method, channel=channel)
        if wait:
            await asyncio.sleep(wait)

    async def hold_off(
        self, team_id: str, method: str, seconds: float, *, channel: str | None = None
    ) -> None:
        """Slack said 429: nobody in this workspace calls ``method`` for ``seconds``."""
        budget = self.budget(team_id, method, channel)
        key = (budget.key if budget else f"sb:slack:pace:{team_id}:{method}") + ":blocked"
        log.info("slack_rate_limited", team_id=team_id, method=method, retry_after=seconds)
        if self._redis is not None:
            try:
                await self._block_script(keys=[key], args=[seconds])
                return
            except (RedisError, OSError) as exc:
                log.warning("pacing_redis_unavailable", error=str(exc))
        if budget is not None:
            self._local.block(budget.key, seconds)
