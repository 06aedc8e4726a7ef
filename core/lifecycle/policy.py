"""What a failed attempt means, the same on every platform: the words the user reads, and
whether another attempt may succeed."""

from __future__ import annotations

from core.errors import PlatformError

SORRY = "Sorry — something went wrong while I was answering. Please try again in a moment."
# Shown when an attempt failed and the event goes back to the inbox to be answered again: the
# next attempt replaces this message with the answer.
STILL_WORKING = (
    "This is taking longer than usual — I'm still on it, and the answer will appear here."
)
# HTTP statuses of a platform call that another attempt may get past.
PASSING = frozenset({408, 412, 429})


def worth_retrying(exc: BaseException) -> bool:
    """Whether another attempt may succeed: not when the platform refused the bot or the
    message itself (401, 403, 404, 413…), which a retry would only repeat."""
    if isinstance(exc, PlatformError) and exc.status is not None:
        return exc.status >= 500 or exc.status in PASSING
    return True
