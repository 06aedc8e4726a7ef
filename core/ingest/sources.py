"""Which remote source a target names: a web address, ``sharepoint``, ``confluence[:SPACE]``.

One place that turns settings into connectors, for the CLI, admin commands and jobs alike.
"""

from __future__ import annotations

from core.errors import ConfigurationError
from core.ingest.connectors.base import Source
from core.ingest.connectors.confluence import ConfluenceSpace
from core.ingest.connectors.sharepoint import SharePointLibrary
from core.ingest.connectors.web import WebPages, is_web_address
from core.settings import Settings

REMOTE_HELP = "a web address (https://…), 'sharepoint', or 'confluence' / 'confluence:SPACE'"


def is_remote_target(target: str) -> bool:
    name = target.lower()
    return is_web_address(target) or name == "sharepoint" or name.split(":", 1)[0] == "confluence"


def sources_for(target: str, settings: Settings) -> list[Source]:
    """The sources ``target`` names; raises ``ConfigurationError`` naming what is missing."""
    if is_web_address(target):
        return [
            WebPages(
                [target], timeout=settings.web_timeout, allowed_hosts=settings.ingest_allowed_hosts
            )
        ]
    kind, _, detail = target.partition(":")
    if kind.lower() == "sharepoint":
        return [sharepoint(settings)]
    if kind.lower() == "confluence":
        spaces = [detail] if detail else list(settings.confluence_spaces)
        if not spaces:
            raise ConfigurationError("Name a space (confluence:KEY) or set CONFLUENCE_SPACES.")
        return [confluence(settings, space) for space in spaces]
    raise ConfigurationError(f"{target!r} is not a source I know; use {REMOTE_HELP}.")


def configured_sources(settings: Settings) -> list[Source]:
    """Every remote source the settings configure (for the scheduled re-ingest)."""
    found: list[Source] = []
    if settings.sharepoint_site:
        found.append(sharepoint(settings))
    if settings.confluence_url and settings.confluence_spaces:
        found.extend(confluence(settings, space) for space in settings.confluence_spaces)
    return found


def sharepoint(settings: Settings) -> SharePointLibrary:
    missing = [
        name
        for name, value in (
            ("SHAREPOINT_TENANT_ID", settings.sharepoint_tenant_id),
            ("SHAREPOINT_CLIENT_ID", settings.sharepoint_client_id),
            ("SHAREPOINT_CLIENT_SECRET", settings.sharepoint_client_secret),
            ("SHAREPOINT_SITE", settings.sharepoint_site),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError("SharePoint is not configured: set " + ", ".join(missing) + ".")
    assert settings.sharepoint_client_secret is not None
    return SharePointLibrary(
        tenant_id=str(settings.sharepoint_tenant_id),
        client_id=str(settings.sharepoint_client_id),
        client_secret=settings.sharepoint_client_secret.get_secret_value(),
        site=str(settings.sharepoint_site),
        drive=settings.sharepoint_drive,
        folder=settings.sharepoint_folder,
        domain=settings.sharepoint_domain,
        graph_url=settings.graph_url,
        authority_host=settings.entra_authority_host,
        ca_file=str(settings.graph_ca_file) if settings.graph_ca_file else None,
        cert_file=str(settings.sharepoint_cert_file) if settings.sharepoint_cert_file else None,
    )


def confluence(settings: Settings, space: str) -> ConfluenceSpace:
    if not settings.confluence_url or settings.confluence_token is None:
        raise ConfigurationError(
            "Confluence is not configured: set CONFLUENCE_URL and CONFLUENCE_TOKEN."
        )
    return ConfluenceSpace(
        base_url=settings.confluence_url,
        space=space,
        token=settings.confluence_token.get_secret_value(),
        email=settings.confluence_email,
        domain=settings.confluence_domain,
        everyone_groups=settings.confluence_everyone_groups,
        space_permissions=settings.confluence_space_permissions,
    )
