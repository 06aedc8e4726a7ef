"""Activities to JSON without msrest's generic walk, for the Bot Connector calls of an answer.

Every outgoing activity goes through msrest's ``Serializer.body``: it first rebuilds the
activity as a model (``Deserializer``), validates it, then serializes it attribute by attribute
through key transformers and type tables. Under a burst of Teams answers that was a sixth of a
replica's CPU, about 0.2 ms of it for every streamed update (docs/benchmarks.md, latency, round
eleven).

``ActivitySerializer`` writes the same JSON directly for the activities made of what the bot
sends: strings, numbers, booleans, nested models, lists of them, and plain JSON in ``object``
fields. Anything else (dates, enum-typed fields, flattened keys, typed dicts, a dict where a
model belongs, a model of another type than declared, a model with validation rules, an
attribute deleted or never set, two attributes written under one key) goes to msrest as
before, so what reaches Teams is msrest's output either way (tests/bots/teams/test_wire.py
compares them).
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from typing import Any

from botbuilder.schema import Activity
from msrest.serialization import Model, Serializer


class _Unknown(Exception):
    """Something the direct path does not write; msrest does."""


_PLAIN = {"str": str, "bool": bool, "int": int, "float": float}
_MISSING = object()  # an attribute in the map that the instance does not have


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
    if isinstance(value, Model) and declared in _model_names(type(value)):
        return _model(value)  # the declared model or a subclass of it (WireEntity as Entity)
    raise _Unknown(f"{type(value).__name__} as {declared}")  # dates, enums, typed dicts


@cache
def _model_names(kind: type) -> frozenset[str]:
    return frozenset(klass.__name__ for klass in kind.__mro__)


def _fields(model: Model) -> tuple[tuple[str, str, str], ...] | None:
    """``(attribute, key, declared type)`` for each of a model's fields, or None when only
    msrest knows how to write it: validation rules, XML, a flattened key ("a.b" nests), two
    attributes sharing a key, a type given as a class, extra properties sent. Worked out once
    a class, unless the instance has an attribute map of its own (``WireEntity``)."""
    if "_attribute_map" in vars(model):
        return _plan(model._attribute_map, model._validation, model.is_xml_model())
    return _class_fields(type(model))


@cache
def _class_fields(kind: type[Model]) -> tuple[tuple[str, str, str], ...] | None:
    return _plan(kind._attribute_map, kind._validation, kind.is_xml_model())


def _plan(
    attribute_map: dict[str, dict[str, Any]], validation: dict[str, Any], xml: bool
) -> tuple[tuple[str, str, str], ...] | None:
    if validation or xml:
        return None
    fields, keys = [], set()
    for attribute, description in attribute_map.items():
        key, declared = description["key"], description["type"]
        if "." in key.replace("\\.", "") or key in keys or type(declared) is not str:
            return None
        if attribute == "additional_properties" and key == "":
            return None  # enable_additional_properties_sending: not used by the bot
        keys.add(key)
        fields.append((attribute, key.replace("\\.", "."), declared))
    return tuple(fields)


def _model(model: Model) -> dict[str, Any]:
    fields = _fields(model)
    if fields is None:
        raise _Unknown(type(model).__name__)
    attributes = vars(model)
    wire: dict[str, Any] = {}
    for attribute, key, declared in fields:
        value = attributes.get(attribute, _MISSING)
        if value is None:
            continue
        if value is _MISSING:
            raise _Unknown(f"{attribute} is not set")  # msrest decides what that means
        wire[key] = _value(value, declared)
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
