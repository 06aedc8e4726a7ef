"""The one error tree of Switchboard.

    SwitchboardError
    ├── ConfigurationError      a setting is missing or wrong
    ├── StoreUnavailable        the database cannot be reached
    ├── InvalidQuestion         the question cannot be answered as asked (empty, too long)
    ├── RateLimited             the user is asking faster than allowed (retry_after)
    ├── IngestError             a document could not be read or stored
    │   └── UnsupportedDocument the file is of a kind we do not read
    └── ModelError              the model endpoint failed (status, retryable)

Errors from libraries are translated at the edge with ``raise ... from exc``; each leaf
carries a message fit to show a user as it is.
"""

from __future__ import annotations


class SwitchboardError(Exception):
    """Root of every error Switchboard raises on purpose."""


class ConfigurationError(SwitchboardError):
    """A setting is missing or invalid."""


class StoreUnavailable(SwitchboardError):
    """The database cannot be reached or refused the connection."""


class InvalidQuestion(SwitchboardError):
    """The question is empty, too long or otherwise cannot be answered as asked."""


class RateLimited(SwitchboardError):
    """The caller must wait ``retry_after`` seconds before asking again."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IngestError(SwitchboardError):
    """A document could not be read, parsed or stored."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedDocument(IngestError):
    """The file is not one of the kinds ingestion reads."""


class ModelError(SwitchboardError):
    """The model endpoint failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
