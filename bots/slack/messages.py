"""The Web API calls that show one answer in one Slack thread: streams started, appended to
and stopped; messages posted, updated, replaced and deleted. Pacing and reuse are the
stream's (``bots.slack.stream``); these only speak to Slack."""

from __future__ import annotations

from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.models.messages.chunk import MarkdownTextChunk
from slack_sdk.web.async_chat_stream import AsyncChatStream

from bots.slack import escaping
from bots.slack.blocks import Block, markdown, notification
from bots.slack.calls import SlackCalls, slack_error
from bots.slack.target import ReplyTarget

log = structlog.get_logger(__name__)

EXPIRED = "message_not_in_streaming_state"
# startStream errors that mean "no streaming in this workspace", not "this one call failed".
UNAVAILABLE = {
    "unknown_method",
    "feature_not_enabled",
    "method_not_supported",
    "missing_scope",
    "not_allowed_token_type",
    "access_denied",
}
# chat.update errors that mean an earlier attempt's message cannot be reused.
LOST = {"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found"}


class ThreadMessages:
    """One answer's calls to Slack in ``target``'s thread."""

    def __init__(self, calls: SlackCalls, target: ReplyTarget) -> None:
        self._calls = calls
        self._target = target

    async def start_stream(self, head: str) -> AsyncChatStream | None:
        """A streaming message opened with ``head`` (its ``startStream`` slot reserved); None
        when Slack would not stream it (and never will in this workspace, for some errors)."""
        t = self._target
        streamer = await self._calls.client.chat_stream(
            channel=t.channel,
            thread_ts=t.thread_ts,
            recipient_team_id=t.user_team_id,
            recipient_user_id=t.user_id,
            buffer_size=1,
            token=t.token,
        )
        try:
            # Text goes as chunks, never through the helper's own buffer: a retried call must
            # not send the same words twice.
            await self._calls.paced(
                t.team_id,
                "chat.startStream",
                lambda: streamer.append(chunks=[MarkdownTextChunk(text=escaping.markdown(head))]),
                reserved=True,
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            log.warning("slack_stream_unavailable", error=error, team_id=t.team_id)
            if error in UNAVAILABLE:
                self._calls.streaming_unavailable.add(t.team_id)
            return None
        return streamer if streamer.ts else None

    async def append(self, streamer: AsyncChatStream, head: str) -> bool:
        """Add ``head`` to a stream (its slot reserved); False when Slack had already closed
        the stream."""
        try:
            await self._calls.paced(
                self._target.team_id,
                "chat.appendStream",
                lambda: streamer.append(chunks=[MarkdownTextChunk(text=escaping.markdown(head))]),
                reserved=True,
            )
        except SlackApiError as exc:
            if slack_error(exc) != EXPIRED:
                raise
            return False
        return True

    async def stop(
        self,
        streamer: AsyncChatStream,
        head: str,
        extra: list[Block] | None,
        *,
        reserved: bool = False,
    ) -> bool:
        """Stop a stream with ``head`` (and ``extra`` blocks under it); False when Slack had
        already closed the stream."""
        chunks = [MarkdownTextChunk(text=escaping.markdown(head))] if head else None
        try:
            await self._calls.paced(
                self._target.team_id,
                "chat.stopStream",
                lambda: streamer.stop(chunks=chunks, blocks=extra or None),
                reserved=reserved,
            )
        except SlackApiError as exc:
            if slack_error(exc) != EXPIRED:
                raise
            return False
        return True

    async def post(self, text: str, extra: list[Block] | None) -> str:
        """A new message in the thread; its ts."""
        t = self._target
        response = await self._calls.api(
            t.team_id,
            "chat.postMessage",
            token=t.token,
            channel=t.channel,
            thread_ts=t.thread_ts,
            **content(text, extra),
        )
        return str(response["ts"])

    async def replace(self, ts: str, text: str, extra: list[Block] | None) -> str:
        """Show ``text`` in a message an earlier attempt posted: its stream (if Slack has not
        closed it yet) is stopped first, since a streaming message cannot be updated."""
        t = self._target
        await self._calls.try_api(
            t.team_id, "chat.stopStream", token=t.token, channel=t.channel, ts=ts
        )
        await self._calls.api(
            t.team_id,
            "chat.update",
            token=t.token,
            channel=t.channel,
            ts=ts,
            **content(text, extra),
        )
        return ts

    async def update(
        self, ts: str, text: str, extra: list[Block] | None, *, reserved: bool
    ) -> None:
        t = self._target
        await self._calls.api(
            t.team_id,
            "chat.update",
            token=t.token,
            reserved=reserved,
            channel=t.channel,
            ts=ts,
            **content(text, extra),
        )

    async def delete(self, ts: str) -> None:
        """A message an earlier attempt posted that this answer did not need."""
        t = self._target
        await self._calls.try_api(
            t.team_id, "chat.stopStream", token=t.token, channel=t.channel, ts=ts
        )
        await self._calls.try_api(t.team_id, "chat.delete", token=t.token, channel=t.channel, ts=ts)


def content(text: str, extra: list[Block] | None) -> dict[str, Any]:
    """A message's ``text`` (what notifications show) and ``blocks`` (the answer as markdown,
    then ``extra``: sources, feedback buttons)."""
    blocks: list[Block] = [markdown(text)] if text else []
    return {"text": notification(text) or "Sources", "blocks": blocks + list(extra or [])}
