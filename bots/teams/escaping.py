"""Text we did not write, made unable to mention anyone in Teams.

Teams notifies people through ``mention`` entities whose ``text`` (``<at>Name</at>``) appears in
the message. The bot never sends a mention entity with an answer, and an ``<at>`` tag in an
answer (a question or a document quoting one, or the model echoing it) is turned into a
look-alike, so it can neither pair with an entity nor render as a mention. The length is kept:
a stream's final message must equal the text it streamed, character for character.
"""

from __future__ import annotations

import re

_AT_TAG = re.compile(r"<(/?at)(?=[\s>/])", re.IGNORECASE)


def no_mentions(text: str) -> str:
    return _AT_TAG.sub(lambda m: "‹" + m.group(1), text)
