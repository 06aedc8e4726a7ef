"""What reaches the Bot Connector is what msrest would have written, byte for byte in JSON.

``ActivitySerializer`` writes the bot's activities directly; each activity the bot sends is
compared here with msrest's own ``Serializer.body`` for it, and activities the direct path
does not know go to msrest.
"""

from __future__ import annotations

import copy
import datetime
import json

import pytest
from botbuilder.core import TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationAccount,
    SemanticAction,
    TextHighlight,
)
from botframework.connector import models
from msrest.exceptions import SerializationError
from msrest.serialization import Serializer

from bots.teams.cards import (
    answer_activity,
    handoff_activity,
    plain_message,
    stream_info,
    welcome_activity,
)
from bots.teams.wire import ActivitySerializer, activity_json
from core.answers import Citation

CITATIONS = [
    Citation(n=1, title="Remote access", snippet="Open the VPN client.", url="https://intranet.example/vpn",
             page=3),
    Citation(n=2, title="Leave \"policy\" 2026", snippet="Ask your manager first.", path="hr/leave.md",
             section="Planning"),
    Citation(n=3, title="Travel", snippet="Book through the portal.", url="file:///share/travel.pdf"),
]
MODELS = {k: v for k, v in vars(models).items() if isinstance(v, type)}


def _addressed(activity: Activity) -> Activity:
    """``activity`` as botbuilder sends it in reply to a personal-chat message."""
    incoming = Activity(
        type=ActivityTypes.message, id="1:incoming", channel_id="msteams",
        service_url="https://smba.example/amer/", locale="fr-FR",
        conversation=ConversationAccount(id="a:personal", conversation_type="personal",
                                         tenant_id="tenant-1"),
        from_property=ChannelAccount(id="29:alice", name="Alice Ng", aad_object_id="aad-alice"),
        recipient=ChannelAccount(id="28:bot", name="Switchboard"),
    )
    TurnContext.apply_conversation_reference(
        activity, TurnContext.get_conversation_reference(incoming)
    )
    return activity


def _streamed(kind: str, text: str, **fields: object) -> Activity:
    return Activity(type=ActivityTypes.typing, text=text, entities=[stream_info(kind, **fields)])


SENT = {
    "informative update": _streamed("informative", "Searching the IT Help Hub…", sequence=1),
    "streamed text": _streamed("streaming", "Open the VPN client [1]. ", sequence=2,
                               stream_id="stream-1"),
    "final answer": answer_activity("Open the VPN client [1]. Ask your manager [2].", CITATIONS,
                                    stream_id="stream-1"),
    "answer with a sources card": answer_activity(
        "See [1], [2] and [3]. Ünïcödé “quotes” and <b>tags</b>.", CITATIONS
    ),
    "answer without feedback": answer_activity("Nothing cited.", [], feedback=False),
    "plain message": plain_message("Your feedback was saved. **Thank you.**"),
    "welcome, personal": welcome_activity(["How do I reset MFA?", "Parental leave?"],
                                          personal=True),
    "welcome, channel": welcome_activity(["How do I reset MFA?"], personal=False),
    "talk to a person": handoff_activity(42),
}


@pytest.mark.parametrize("name", list(SENT))
def test_the_bot_s_activities_are_written_as_msrest_writes_them(name: str):
    activity = _addressed(SENT[name])
    direct = activity_json(activity)
    expected = Serializer(MODELS).body(activity, "Activity")
    assert direct is not None, "the direct path handles every activity the bot sends"
    assert json.dumps(direct, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_what_the_direct_path_does_not_know_is_left_to_msrest():
    dated = _addressed(plain_message("Posted at noon."))
    dated.timestamp = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
    highlighted = _addressed(plain_message("Highlighted."))
    highlighted.text_highlights = [TextHighlight(text="noon", occurrence=1)]
    nested_dict = _addressed(plain_message("A recipient given as a dict."))
    nested_dict.recipient = {"id": "28:bot", "name": "Switchboard"}
    assert activity_json(dated) is None  # a date: msrest writes it
    assert activity_json(nested_dict) is None  # a dict where a model belongs: msrest builds it

    serializer = ActivitySerializer(MODELS)
    for activity in (dated, highlighted, nested_dict):
        # msrest's body() turns dicts into models in place: the expected JSON from a copy.
        expected = Serializer(MODELS).body(copy.deepcopy(activity), "Activity")
        assert json.dumps(serializer.body(activity, "Activity"), sort_keys=True) == json.dumps(
            expected, sort_keys=True
        )
    assert serializer.body(dated, "Activity")["timestamp"].startswith("2026-12-07T12:00:00")


def _unset_state() -> Activity:
    activity = _addressed(plain_message("A nested model with an attribute deleted."))
    activity.semantic_action = SemanticAction(id="s")
    del activity.semantic_action.state  # msrest then leaves the whole model out
    return activity


def _odd(build) -> Activity:
    activity = _addressed(plain_message("Odd but sendable."))
    build(activity)
    return activity


ODD = {
    # Two attributes written under one key: msrest keeps the first.
    "one key, two attributes": lambda: _odd(lambda a: setattr(
        a, "value", models.TokenExchangeState(connection_name="conn", bot_url="https://bot"))),
    # A field typed with a class instead of a name: msrest writes null for it.
    "a type given as a class": lambda: _odd(lambda a: setattr(
        a, "channel_data", {"x": models.MessagingExtensionResponse(
            cache_info=models.CacheInfo(cache_type="cache"))})),
    "an attribute deleted": _unset_state,
    # A model of another class than declared.
    "a Mention among the entities": lambda: _odd(lambda a: setattr(
        a, "entities", [models.Mention(text="<at>Ann</at>", type="mention")])),
}


@pytest.mark.parametrize("name", list(ODD))
def test_odd_activities_are_written_by_msrest(name: str):
    activity = ODD[name]()
    expected = Serializer(MODELS).body(copy.deepcopy(activity), "Activity")
    assert activity_json(copy.deepcopy(activity)) is None
    written = ActivitySerializer(MODELS).body(activity, "Activity")
    assert json.dumps(written, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_a_model_in_a_date_field_is_refused_as_msrest_refuses_it():
    activity = _addressed(plain_message("A model where a date belongs."))
    activity.timestamp = ChannelAccount(id="29:someone")
    assert activity_json(activity) is None
    with pytest.raises(SerializationError):
        ActivitySerializer(MODELS).body(activity, "Activity")
