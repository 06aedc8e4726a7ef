"""The one error tree of Switchboard.

    SwitchboardError
    ├── ConfigurationError      a setting is missing or wrong
    ├── StoreUnavailable        the database cannot be reached
    ├── InvalidQuestion         the question cannot be answered as asked (empty, too long)
    │   └── QuestionRefused     moderation turned the question down (categories)
    ├── RateLimited             the user is asking faster than allowed (retry_after)
    │   └── BudgetExceeded      a daily model-cost budget is spent (scope: user, workspace)
    ├── JobBusy                 a job is already running on this or another replica
    ├── JobFailed               a job run asked for now failed (its error is in job_runs)
    ├── PlatformError           Slack or Teams refused or failed a call (status, code, retry_after)
    ├── IngestError             a document could not be read or stored
    │   ├── UnsupportedDocument the file is of a kind we do not read
    │   └── SourceUnavailable   a remote source (web, Graph, Confluence) failed (status)
    └── ModelError              the model endpoint failed (status, retryable)
        ├── ModelUnavailable    no answer started: down, timed out, retries spent, circuit open
        └── StreamInterrupted   the answer stream broke after it had started

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


class BudgetExceeded(RateLimited):
    """Today's model-cost budget of the person or their workspace (``scope``) is spent; it
    renews at midnight UTC, ``retry_after`` seconds from now."""

    def __init__(self, message: str, *, scope: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.scope = scope


class IngestError(SwitchboardError):
    """A document could not be read, parsed or stored."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedDocument(IngestError):
    """The file is not one of the kinds ingestion reads."""


class SourceUnavailable(IngestError):
    """A remote source refused, failed or answered garbage; ``status`` is its HTTP status."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ModelError(SwitchboardError):
    """The model endpoint failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class ModelUnavailable(ModelError):
    """The model gave no answer at all: unreachable, timed out, retries spent, or circuit open."""


class StreamInterrupted(ModelError):
    """The answer stream broke after text had arrived; what arrived is already shown."""


class QuestionRefused(InvalidQuestion):
    """Moderation turned the question down; the message is the polite refusal to show."""

    def __init__(self, message: str, *, categories: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.categories = categories


class JobBusy(SwitchboardError):
    """The job is already running (here or on another replica); try again when it finishes."""


class PlatformError(SwitchboardError):
    """A chat platform refused or failed a call: HTTP ``status``, the platform's error ``code``,
    and ``retry_after`` seconds when it said how long to wait."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class JobFailed(SwitchboardError):
    """A job run someone asked for failed; the message says why (also kept in job_runs)."""
