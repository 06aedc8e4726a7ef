"""Property-based fuzzing helpers: hostile text, JSON of any shape, and a way to run Hypothesis
against the real server from an async test.

Hypothesis drives plain functions; our server, runtime and fakes live on the test's event loop.
``run_property`` runs Hypothesis in a worker thread and each example on that loop, so every
example goes through the real aiohttp app, bolt / botbuilder, Postgres and the fakes.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T = TypeVar("T")

# What people (and attackers) type: mentions and broadcasts in Slack's and Teams' markup,
# control and bidi characters, emoji floods.
INJECTIONS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!here|here>",
    "@here",
    "@channel",
    "@everyone",
    "<@U123>",
    "<@U123|boss>",
    "<!subteam^S0123ABC|@admins>",
    "<!subteam^S0123ABC>",
    "&lt;!channel&gt;",
    "&lt;@U999&gt;",
    "<at>General</at>",
    "<at id=\"0\">Everyone</at>",
    "<https://evil.example|click> <#C123|general>",
    "*bold* _it_ ~s~ `code` ```block``` > quote",
    "**bold** [link](https://x.example) # heading",
    "\u202eevil\u202c",
    "\u200f\u200e\u2066\u2069",
    "\x00\x07\x1b[31m\x7f",
    "\r\n\t",
    "\ufeff\u200b",
    "😀" * 50,
    "👩‍👩‍👧‍👦🏳️‍🌈",
)
EMOJI_FLOOD = "😀" * 10_000

hostile_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(INJECTIONS) | st.text(max_size=20), max_size=8).map("".join),
    st.sampled_from(INJECTIONS),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually ``strategy``, sometimes any JSON value at all (the wrong type for the field)."""
    return st.one_of(strategy, strategy, strategy, json_values)


def some_keys(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts holding any subset of ``fields`` (each with its strategy), plus stray keys."""
    return st.fixed_dictionaries({}, optional=fields).flatmap(
        lambda base: st.dictionaries(st.text(max_size=8), json_values, max_size=2).map(
            lambda extra: {**extra, **base}
        )
    )


_BROADCAST = re.compile(
    r"<!(?:here|channel|everyone|subteam\^)|<@[UW]|(?<![\w@＠])@(?:here|channel|everyone)\b",
    re.IGNORECASE,
)


def broadcasts(value: Any) -> list[str]:
    """Every place in ``value`` (any JSON: a Slack call's arguments, an activity) that would
    notify a channel, a group or a person."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return [m.group(0) for m in _BROADCAST.finditer(text)]


def run_property(
    loop: asyncio.AbstractEventLoop,
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Awaitable[None]],
    *,
    examples: int,
    timeout_s: float = 120.0,
) -> None:
    """Run ``check`` on ``examples`` values drawn from ``strategy`` (shrinking on failure).
    Call it through ``asyncio.to_thread`` from the test whose ``loop`` runs ``check``."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,  # nothing written into the work tree
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def prop(value: T) -> None:
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout_s)

    prop()
