"""Slash and chat commands (``/assistant help``, ``history``, ``stats``…): the seam every
adapter calls.

An adapter parses its platform's command into a ``CommandRequest``, calls
``CommandHandler.handle`` (with a progress callback for long commands), and renders the
``CommandReply`` in its own format (Block Kit, an Adaptive Card, plain text).
"""

from core.commands.context import CommandOptions, CommandServices
from core.commands.handler import CommandHandler, is_command
from core.commands.reply import (
    CommandAction,
    CommandReply,
    CommandRequest,
    Fact,
    HistoryEntry,
)
from core.commands.stores import ProgressCallback

__all__ = [
    "CommandAction",
    "CommandHandler",
    "CommandOptions",
    "CommandReply",
    "CommandRequest",
    "CommandServices",
    "Fact",
    "HistoryEntry",
    "ProgressCallback",
    "is_command",
]
