"""Verified answers: an admin's answer to a question, served as written to its paraphrases."""

from core.verified.answers import (
    KEEP,
    Author,
    Keep,
    Thresholds,
    VerifiedAnswer,
    VerifiedAnswers,
    VerifiedMatch,
    VerifiedStore,
    mark,
    marked,
)

__all__ = [
    "KEEP",
    "Author",
    "Keep",
    "Thresholds",
    "VerifiedAnswer",
    "VerifiedAnswers",
    "VerifiedMatch",
    "VerifiedStore",
    "mark",
    "marked",
]
