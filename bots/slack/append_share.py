"""How often one streaming answer may append, given every stream in its workspace.

``chat.appendStream`` is Tier 4: about 100 calls a minute per workspace, shared by every
answer streaming there, on every replica. An answer appends every ``base_s`` (half a second)
while the window has room for all the workspace's streams to do the same over the next few
seconds (``horizon_s``); as the room shrinks, every stream gets the same part of what is left,
down to an even share of the tier (``window / limit`` times the number of streams) — so the
budget thins out evenly instead of being spent by the first streams and leaving the later
ones a minute without an update.

The streams a workspace has right now are counted where the budget lives: in Redis (a sorted
set of streams, each kept alive by its appends), or in this process without Redis.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# A stream not heard of for this long has ended (its answer crashed without saying so).
_ALIVE_S = 15.0

# KEYS[1] the workspace's streams (member: stream id, score: alive until), KEYS[2] the
# appendStream slot log (bots/slack/pacing.py). ARGV: stream id, alive seconds, window
# seconds. Returns {streams, slots used in the window}.
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
local used = 0
for _, slot in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if tonumber(slot) > now - tonumber(ARGV[3]) then used = used + 1 end
end
return {redis.call('ZCARD', KEYS[1]), used}
"""


class AppendShare:
    """The interval between one stream's appends (see the module docstring)."""

    def __init__(
        self,
        *,
        window_s: float,
        limit: int,
        redis: Redis | None = None,
        local_log: Mapping[str, list[float]] | None = None,
        horizon_s: float = 5.0,
    ) -> None:
        self._window = window_s
        self._limit = limit
        self._horizon = horizon_s
        self._redis = redis
        self._script = redis.register_script(_COUNT) if redis is not None else None
        self._local: dict[str, dict[str, float]] = defaultdict(dict)
        # Without Redis: the pacer's own slot log in this process.
        self._local_log = local_log

    def fair_interval(self, streams: int, used: int, base_s: float) -> float:
        """``base_s`` while the window has room for every stream at that pace; as the room
        shrinks, each stream's even part of what the next ``horizon`` can give — the room
        left plus the slots that free up meanwhile — down to an even share of the tier."""
        room = max(self._limit - used, 0)
        supply = room + self._horizon * self._limit / self._window
        return max(base_s, max(streams, 1) * self._horizon / supply)

    async def interval(self, team_id: str, stream_id: str, base_s: float, log_key: str) -> float:
        """Note that ``stream_id`` is streaming in ``team_id`` and return its interval;
        ``log_key`` is the appendStream slot log the pacer keeps."""
        if self._script is not None:
            try:
                streams, used = await self._script(
                    keys=[f"sb:slack:streams:{team_id}", log_key],
                    args=[stream_id, _ALIVE_S, self._window],
                )
                return self.fair_interval(int(streams), int(used), base_s)
            except (RedisError, OSError) as exc:
                log.warning("pacing_redis_unavailable", error=str(exc))
        now = time.monotonic()
        streams = self._local[team_id]
        streams[stream_id] = now + _ALIVE_S
        for key in [k for k, until in streams.items() if until <= now]:
            del streams[key]
        return self.fair_interval(len(streams), self._used(log_key), base_s)

    async def leave(self, team_id: str, stream_id: str) -> None:
        """``stream_id`` has ended: it no longer takes a share."""
        self._local[team_id].pop(stream_id, None)
        if self._redis is not None:
            try:
                await self._redis.zrem(f"sb:slack:streams:{team_id}", stream_id)
            except (RedisError, OSError) as exc:
                log.warning("pacing_redis_unavailable", error=str(exc))

    def _used(self, log_key: str) -> int:
        if self._local_log is None:
            return 0
        now = time.monotonic()
        return sum(1 for slot in self._local_log.get(log_key, ()) if slot > now - self._window)
