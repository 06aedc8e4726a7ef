"""The hand-off desk each platform's adapter presses "Talk to a person" into, built from the
one settings object (the ticketing webhook is shared; each platform has its own channel)."""

from __future__ import annotations

from bots.runtime import Runtime
from core.handoff import HandoffDesk, HandoffSettings, WebhookSender
from core.handoff.desk import Spawn
from store.admin import PgAuditLog
from store.handoff import PgHandoffs


def webhook_sender(settings: HandoffSettings) -> WebhookSender | None:
    """The webhook's sender, or None when no webhook is set (the settings insist on a secret)."""
    if not settings.handoff_webhook or settings.handoff_webhook_secret is None:
        return None
    return WebhookSender(
        settings.handoff_webhook,
        settings.handoff_webhook_secret.get_secret_value(),
        timeout_s=settings.handoff_webhook_timeout_s,
        attempts=settings.handoff_webhook_attempts,
    )


def handoff_desk(runtime: Runtime, spawn: Spawn) -> HandoffDesk:
    """A desk for one adapter; close its webhook (``desk.aclose()``) when the adapter stops."""
    return HandoffDesk(
        PgHandoffs(runtime.db.pool),
        audit=PgAuditLog(runtime.db.pool),
        metrics=runtime.metrics,
        webhook=webhook_sender(HandoffSettings.of(runtime.settings)),
        spawn=spawn,
    )
