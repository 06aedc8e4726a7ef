"""Text we did not write — questions, documents, model output — made safe to show in Slack.

Slack turns ``<!here>``, ``<!channel>``, ``<!everyone>``, ``<!subteam^ID>`` and ``<@U123>`` into
notifications, and ``@here`` as well where names are linked. None of those may ever leave the
bot: a question that says "<!channel>" (typed literally, Slack sends it as ``&lt;!channel&gt;``,
which reads back as ``<!channel>``) must not make the answer ping a channel.

- ``mrkdwn`` fields (sections, context, a message's ``text``) get Slack's own escaping of
  ``&``, ``<`` and ``>``, so nothing in them is markup.
- Markdown (the answer's ``markdown`` block and streamed chunks) keeps its formatting; only the
  two characters that would start a special sequence are swapped for look-alikes, which keeps
  lengths unchanged (the stream counts characters against Slack's 12,000).

Either way a bare ``@here``/``@channel``/``@everyone`` gets a full-width ``＠``.
"""

from __future__ import annotations

import re

BROADCASTS = ("here", "channel", "everyone")
_SPECIAL = re.compile(r"<(?=[!@])")
_BARE = re.compile(r"(?<![\w@＠])@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
_TAIL_AT = re.compile(r"(?<![\w@＠])@([A-Za-z]*)$")


def _defang_bare(text: str) -> str:
    return _BARE.sub("＠", text)


def mrkdwn(text: str) -> str:
    """``text`` for an ``mrkdwn`` field: escaped, so it shows as written and pings nobody."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _defang_bare(escaped)


def markdown(text: str) -> str:
    """``text`` for a markdown block or a streamed chunk, formatting kept, pinging nobody.

    Chunks of one stream are joined by Slack, so a ``<`` or an ``@here`` cut short at the end of
    this piece is made safe too: the next piece cannot complete it.
    """
    safe = _defang_bare(_SPECIAL.sub("‹", text))
    if safe.endswith("<"):
        safe = safe[:-1] + "‹"
    tail = _TAIL_AT.search(safe)
    if tail is not None and any(word.startswith(tail.group(1).lower()) for word in BROADCASTS):
        safe = safe[: tail.start()] + "＠" + safe[tail.start() + 1 :]
    return safe


def link_target(url: str) -> str:
    """A URL safe inside ``<url|label>``: no character that could end the link or start markup."""
    cleaned = "".join(
        f"%{ord(ch):02X}" if ch in "<>| \"'`" or ord(ch) < 0x20 or ord(ch) == 0x7F else ch
        for ch in url
    )
    return cleaned.replace("&", "&amp;")
