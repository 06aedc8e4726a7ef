"""A question's life in the core: accepted once, answered, done, tried again or failed.

``lifecycle`` (the ``QuestionLifecycle``), ``seams`` (what it needs from the inbox and from a
platform), ``policy`` (the failure texts and the retry policy), ``locks`` and ``acks`` (the
concurrency rule).
"""

from core.lifecycle.lifecycle import QuestionLifecycle
from core.lifecycle.policy import SORRY, STILL_WORKING, worth_retrying
from core.lifecycle.seams import (
    AnswerAgain,
    Inbox,
    Place,
    PlatformDoor,
    Question,
    Record,
    Reply,
)

__all__ = [
    "SORRY",
    "STILL_WORKING",
    "AnswerAgain",
    "Inbox",
    "Place",
    "PlatformDoor",
    "Question",
    "QuestionLifecycle",
    "Record",
    "Reply",
    "worth_retrying",
]
