""""is thinking…" under the agent pane's thread while an answer is prepared: a nicety that
never holds the answer up."""

from __future__ import annotations

import asyncio
import time

from bots.slack.calls import SlackCalls
from bots.slack.target import ReplyTarget

METHOD = "assistant.threads.setStatus"


class ThinkingStatus:
    """``assistant.threads.setStatus`` for one answer: at most every ``interval_s``, off the
    core's path, skipped when the workspace's budget is busy."""

    def __init__(self, calls: SlackCalls, target: ReplyTarget, *, interval_s: float) -> None:
        self._calls = calls
        self._target = target
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._asked_at: float | None = None
        #: When Slack confirmed a status (monotonic).
        self.shown_at: float | None = None

    def show(self, text: str) -> None:
        now = time.monotonic()
        if self._asked_at is not None and now - self._asked_at < self._interval_s:
            return
        if self._task is not None and not self._task.done():
            return
        self._asked_at = now
        # Off the core's path: the status is a nicety, the answer must not wait for it.
        self._task = asyncio.create_task(self._set(text))

    async def settled(self) -> None:
        # The first text never waits for the status; the end of the answer does, so a status
        # that lands late can be cleared rather than left showing "is thinking…".
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            except TimeoutError:
                self._task.cancel()

    async def _set(self, text: str) -> None:
        # A busy workspace skips the nicety rather than queue for it.
        shown = await self._calls.if_room(
            self._target.team_id,
            METHOD,
            **self._thread(),
            status="is thinking…",
            loading_messages=[text],
        )
        if shown is not None:
            self.shown_at = time.monotonic()

    async def clear(self) -> None:
        await self._calls.try_api(self._target.team_id, METHOD, **self._thread(), status="")

    def _thread(self) -> dict[str, str | None]:
        t = self._target
        return {"token": t.token, "channel_id": t.channel, "thread_ts": t.thread_ts}
