"""Where a Slack answer goes, and how often it may call Slack on the way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where an answer goes: a thread in a channel of a workspace, for one person.

    ``assistant_thread`` is true in the app's own DM (the agent pane), where
    ``assistant.threads.setStatus`` can show "is thinking…".
    """

    team_id: str
    token: str | None
    channel: str
    thread_ts: str
    user_id: str
    user_team_id: str
    assistant_thread: bool = False


@dataclass(frozen=True, slots=True)
class StreamPacing:
    """How often one answer may call Slack, on top of the workspace's budget."""

    streaming: bool = True
    append_interval_s: float = 0.5
    update_interval_s: float = 1.5
    final_update_wait_s: float = 2.0
    status_interval_s: float = 2.0


# The pacing an answer gets when its caller names none.
DEFAULT_PACING = StreamPacing()
