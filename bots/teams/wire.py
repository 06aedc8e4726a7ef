"""Activities to JSON without msrest's generic walk, for the Bot Connector calls of an answer.

Every outgoing activity goes through msrest's ``Serializer.body``: it first rebuilds the
activity as a model (``Deserializer``), validates it, then serializes it attribute by attribute
through key transformers and type tables. Under a burst of Teams answers that was a sixth of a
replica's CPU, about 0.2 ms of it for every streamed update (docs/benchmarks.md, latency, round
eleven).

``ActivitySerializer`` writes the same JSON directly for the activities made of what the bot
sends: strings, numbers, booleans, nested models, lists of them, and plain JSON in ``object``
fields. Anything else (dates, enum-typed fields, flattened keys, typed dicts, a dict where a
model belongs, a model with validation rules) goes to msrest as before, so what reaches Teams
is msrest's output either way (tests/bots/teams/test_wire.py compares them).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from botbuilder.schema import Activity
from msrest.serialization import Model, Serializer


class _Unknown(Exception):
    """Something the direct path does not write; msrest does."""


_PLAIN = {"str": str, "bool": bool, "int": int, "float": float}


def _object(value: Any) -> Any:
    """An ``object`` field as msrest writes it: JSON values as they are, models as models."""
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if kind is dict:
        return {_key(key): _object(item) for key, item in value.items()}
    if kind is list:
        return [_object(item) for item in value]
    if isinstance(value, Model):
        return _model(value)
    raise _Unknown(kind.__name__)


def _key(key: Any) -> str:
    if type(key) is not str:
        raise _Unknown("a key that is not a string")
    return key


def _value(value: Any, declared: str) -> Any:
    plain = _PLAIN.get(declared)
    if plain is not None:
        if type(value) is plain:
            return value
        if plain is str and isinstance(value, Enum) and type(value.value) is str:
            return value.value  # ActivityTypes.message is written "message"
        raise _Unknown(f"{type(value).__name__} as {declared}")
    if declared == "object":
        return _object(value)
    if declared.startswith("[") and declared.endswith("]"):
        if type(value) is not list:
            raise _Unknown(f"{type(value).__name__} as {declared}")
        inner, items = declared[1:-1], []
        for item in value:
            if item is None:
                raise _Unknown("a list holding None")  # msrest keeps it as null
            items.append(_value(item, inner))
        return items
    if isinstance(value, Model):
        return _model(value)
    raise _Unknown(f"{type(value).__name__} as {declared}")  # dates, enums, typed dicts


def _model(model: Model) -> dict[str, Any]:
    if model._validation or model.is_xml_model():
        raise _Unknown(type(model).__name__)
    wire: dict[str, Any] = {}
    for attribute, description in model._attribute_map.items():
        key = description["key"]
        if attribute == "additional_properties" and key == "":
            extra = model.additional_properties
            if extra:
                wire.update(_object(extra))
            continue
        value = getattr(model, attribute, None)
        if value is None:
            continue
        if "." in key.replace("\\.", ""):
            raise _Unknown("a flattened key")  # msrest nests "a.b" as {"a": {"b": …}}
        wire[key.replace("\\.", ".")] = _value(value, description["type"])
    return wire


def activity_json(activity: Activity) -> dict[str, Any] | None:
    """The JSON msrest would send for ``activity``, or None when only msrest can tell."""
    try:
        return _model(activity)
    except _Unknown:
        return None


class ActivitySerializer(Serializer):
    """msrest's serializer, writing activities directly when ``activity_json`` can."""

    def body(self, data: Any, data_type: str, **kwargs: Any) -> Any:
        if data_type == "Activity" and type(data) is Activity:
            wire = activity_json(data)
            if wire is not None:
                return wire
        return super().body(data, data_type, **kwargs)
