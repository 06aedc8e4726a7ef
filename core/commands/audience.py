"""``--allow PRINCIPAL`` on the chat's ``ingest``: who may read what it reads."""

from __future__ import annotations

import re
from pathlib import Path

from core.commands.context import CommandContext
from core.commands.reply import CommandReply, unwrap
from core.identity.principals import UnknownPrincipal, audience_of

_ALLOW = re.compile(r"\s+--allow(?:=|\s+)")


def split_allow(text: str) -> tuple[str, list[str]]:
    """``"https://x --allow group:HR Managers --allow bob@x.com"`` → the target and each
    principal as written (a group name may have spaces: it runs to the next ``--allow``)."""
    parts = _ALLOW.split(" " + text.strip() + " ")
    return parts[0].strip(), [p.strip() for p in parts[1:]]


async def restrict(ctx: CommandContext, target: str, allow: list[str]) -> CommandReply | None:
    """Record the audience for ``target`` (a URL or a checked path) before it is read; a reply when that cannot be done
    (nothing is ingested then)."""
    if not allow or not target:
        return None
    if not all(allow):
        # ``ingest <url> --allow`` with nothing after it: never read as "everyone".
        return CommandReply(
            title="--allow needs someone to allow",
            sections=[
                (
                    "Write who may read it after each --allow: an email or `group:<name or id>`, "
                    "e.g. `ingest https://… --allow group:HR Managers`. Nothing was ingested."
                )
            ],
            ok=False,
        )
    try:
        audience = audience_of(unwrap(p) for p in allow)
    except UnknownPrincipal as exc:
        return CommandReply(title="I don't know that principal", sections=[str(exc)], ok=False)
    if ctx.services.audiences is None:
        return CommandReply(
            title="I can't restrict documents here",
            sections=["Document audiences are not set up in this deployment. Nothing was ingested."],
            ok=False,
        )
    key = target if target.startswith(("http://", "https://")) else str(Path(target).resolve())
    changed = await ctx.services.audiences.allow(key, audience, set_by=ctx.actor)
    if changed and ctx.services.answer_cache is not None:
        # Stored documents changed audience: a cached answer may quote one.
        await ctx.services.answer_cache.documents_changed()
    return None
