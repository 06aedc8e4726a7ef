"""Hand-off to a person: "Talk to a person" under an answer sends the question, the answer
and who asked to the help desk — a help channel on the asker's platform and/or a ticketing
webhook — once per answer and person."""

from core.handoff.desk import HandoffDesk, HandoffOutcome, HandoffStore, HelpChannel
from core.handoff.settings import HandoffSettings
from core.handoff.ticket import HandoffSubject, HandoffTicket
from core.handoff.webhook import WebhookSender, signature

__all__ = [
    "HandoffDesk",
    "HandoffOutcome",
    "HandoffSettings",
    "HandoffStore",
    "HandoffSubject",
    "HandoffTicket",
    "HelpChannel",
    "WebhookSender",
    "signature",
]
