"""Sources beside folders: web pages, SharePoint/OneDrive (Microsoft Graph), Confluence.

A source lists what it holds (cheaply: ids and versions) and fetches one item when the
ingestor asks for it. A listing that fails raises ``IngestError`` before anything is changed,
so an unreachable or misconfigured source never empties the index.
"""

from core.ingest.connectors.base import RemoteItem, Source

__all__ = ["RemoteItem", "Source"]
