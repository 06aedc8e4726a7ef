"""What an ``ingest`` target is called where audiences are kept: the key its documents' uris
fall under (store/audiences.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from core.ingest.connectors.web import is_web_address
from core.ingest.sources import is_remote_target
from core.settings import Settings


def audience_target(target: str, settings: Settings) -> str:
    """A folder or file: its absolute path; a web page: its address; ``sharepoint``: every
    SharePoint document (``sharepoint:``); ``confluence:SPACE``: that space's pages."""
    if not is_remote_target(target):
        return str(Path(target).expanduser().resolve())
    if is_web_address(target):
        return target
    kind, _, detail = target.partition(":")
    if kind.lower() == "sharepoint":
        return "sharepoint:"
    host = urlsplit(settings.confluence_url or "").netloc
    return f"confluence:{host}:{detail}:" if detail else f"confluence:{host}:"
