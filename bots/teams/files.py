"""Files in a Teams personal chat, through Teams' file consent flow.

A bot cannot attach a file to a personal chat. It offers one with a FileConsentCard; when the
person accepts, Teams sends a ``fileConsent/invoke`` carrying an upload URL in their OneDrive,
the bot PUTs the bytes there (one ``Content-Range`` request) and then shows the file with a
FileInfoCard. Nothing is kept between offer and accept: the card's context names the command,
and the command runs again, for whoever accepted, when they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from botbuilder.schema import Activity, ActivityTypes, Attachment

from core.errors import PlatformError

CONSENT_TYPE = "application/vnd.microsoft.teams.card.file.consent"
INFO_TYPE = "application/vnd.microsoft.teams.card.file.info"
INVOKE = "fileConsent/invoke"
# Commands whose reply is a file and may be re-run on accept, for whoever accepts: `export`
# reads only the caller's own data; `stats csv` is checked for an admin again when it re-runs.
FILE_COMMANDS = frozenset({"export", "stats"})
DESCRIPTIONS = {
    "text/csv": "Usage per day and domain from Switchboard, as CSV.",
}


def consent_attachment(
    name: str, size: int, *, command: str, user: str, file_type: str | None = None
) -> Attachment:
    """The card asking to save ``name`` (``size`` bytes) to the person's OneDrive.
    ``command`` is the whole command (``stats csv 30d``): it runs again on accept."""
    context = {"command": command, "user": user}
    return Attachment(
        content_type=CONSENT_TYPE,
        name=name,
        content={
            "description": DESCRIPTIONS.get(
                file_type or "", "Your data from Switchboard, as JSON."
            ),
            "sizeInBytes": size,
            "acceptContext": context,
            "declineContext": context,
        },
    )


@dataclass(frozen=True, slots=True)
class ConsentAnswer:
    """What the person chose on a FileConsentCard, and where Teams wants the bytes."""

    accepted: bool
    command: str
    user: str
    upload_url: str = ""
    content_url: str = ""
    name: str = ""
    unique_id: str = ""
    file_type: str = ""


def read_consent(value: Any) -> ConsentAnswer | None:
    """The answer in a ``fileConsent/invoke`` value; None when it is not one of ours."""
    if not isinstance(value, dict) or value.get("type") != "fileUpload":
        return None
    context = value.get("context") or {}
    command = str(context.get("command") or "") if isinstance(context, dict) else ""
    if command.split(" ", 1)[0] not in FILE_COMMANDS:
        return None
    user = str(context.get("user") or "")
    if value.get("action") != "accept":
        return ConsentAnswer(accepted=False, command=command, user=user)
    info = value.get("uploadInfo")
    # The invoke is signed by the Bot Connector, so the upload URL is Teams' own.
    if not isinstance(info, dict) or not info.get("uploadUrl"):
        return None
    return ConsentAnswer(
        accepted=True,
        command=command,
        user=user,
        upload_url=str(info.get("uploadUrl")),
        content_url=str(info.get("contentUrl") or ""),
        name=str(info.get("name") or ""),
        unique_id=str(info.get("uniqueId") or ""),
        file_type=str(info.get("fileType") or ""),
    )


async def upload(url: str, content: bytes, *, timeout_s: float = 30) -> None:
    """PUT ``content`` to the upload session in one range (OneDrive takes up to 4 MB so)."""
    size = len(content)
    headers = {"Content-Range": f"bytes 0-{size - 1}/{size}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.put(url, data=content, headers=headers) as response,
        ):
            if response.status not in (200, 201):
                raise PlatformError(
                    f"file upload refused: {response.status}", status=response.status
                )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PlatformError(f"file upload failed: {type(exc).__name__}") from exc


def file_info_activity(answer: ConsentAnswer) -> Activity:
    """The uploaded file, shown in the chat so the person can open it."""
    return Activity(
        type=ActivityTypes.message,
        text="Here is your file.",
        attachments=[
            Attachment(
                content_type=INFO_TYPE,
                content_url=answer.content_url,
                name=answer.name,
                content={"uniqueId": answer.unique_id, "fileType": answer.file_type},
            )
        ],
    )
