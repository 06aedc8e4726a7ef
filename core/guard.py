"""Checks a question must pass before anything is stored or searched."""

from __future__ import annotations

from core.errors import InvalidQuestion
from core.text import clean


def check_question(text: str, *, max_chars: int) -> str:
    """Return the cleaned question, or raise ``InvalidQuestion`` with a message for the user."""
    question = clean(text)
    if not question:
        raise InvalidQuestion(
            "I didn't catch a question there. Ask me something, for example "
            "“How many days of annual leave do I get?”"
        )
    if len(question) > max_chars:
        raise InvalidQuestion(
            f"That message is {len(question):,} characters long; I can take up to "
            f"{max_chars:,}. Please shorten it or ask about one thing at a time."
        )
    return question
