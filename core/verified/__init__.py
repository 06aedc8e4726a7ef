"""Verified answers: an admin's answer to a question, served as written to its paraphrases."""

from core.verified.answers import (
    Author,
    Thresholds,
    VerifiedAnswer,
    VerifiedAnswers,
    VerifiedMatch,
    VerifiedStore,
    mark,
    marked,
)

__all__ = [
    "Author",
    "Thresholds",
    "VerifiedAnswer",
    "VerifiedAnswers",
    "VerifiedMatch",
    "VerifiedStore",
    "mark",
    "marked",
]
