"""The connectors' part of the one settings object: web pages, SharePoint/OneDrive through
Microsoft Graph, Confluence. ``core.settings.Settings`` is composed with ``ConnectorSettings``,
so ``settings.sharepoint_site`` and the other names keep working wherever settings go.

The environment names are the ones deployments already set (``SHAREPOINT_…``,
``CONFLUENCE_…``, ``GRAPH_URL``…).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from core.settings_part import CommaList, SettingsPart


class WebSettings(SettingsPart):
    """Web pages given by address."""

    web_timeout: float = Field(20.0, alias="SWITCHBOARD_WEB_TIMEOUT", gt=0)
    # Hosts inside the network (loopback, private, link-local, unique-local) that web pages
    # may be read from: names, addresses or networks, comma-separated. Empty: public only.
    ingest_allowed_hosts: CommaList = Field((), alias="SWITCHBOARD_INGEST_ALLOWED_HOSTS")


class GraphSettings(SettingsPart):
    """Microsoft Graph and the Entra sign-in: the SharePoint connector, Entra groups
    (``core/identity``) and the Bot Framework token (Teams) reach them here."""

    graph_url: str = Field("https://graph.microsoft.com/v1.0", alias="GRAPH_URL")
    entra_authority_host: str = Field(
        "https://login.microsoftonline.com", alias="ENTRA_AUTHORITY_HOST"
    )
    # A certificate authority to trust for Graph and Entra (a TLS-inspecting proxy): the
    # SharePoint connector and the group lookup both use it.
    graph_ca_file: Path | None = Field(None, alias="GRAPH_CA_FILE")


class SharePointSettings(GraphSettings):
    """A SharePoint document library or a OneDrive, read with an app registration (msal
    client credentials); its tenant, id and secret also read Entra groups."""

    sharepoint_tenant_id: str | None = Field(None, alias="SHAREPOINT_TENANT_ID")
    sharepoint_client_id: str | None = Field(None, alias="SHAREPOINT_CLIENT_ID")
    sharepoint_client_secret: SecretStr | None = Field(None, alias="SHAREPOINT_CLIENT_SECRET")
    # SHAREPOINT_SITE is "contoso.sharepoint.com:/sites/HR" or a site id; SHAREPOINT_DRIVE the
    # document library's name (unset: the site's default library).
    sharepoint_site: str | None = Field(None, alias="SHAREPOINT_SITE")
    sharepoint_drive: str | None = Field(None, alias="SHAREPOINT_DRIVE")
    sharepoint_folder: str = Field("/", alias="SHAREPOINT_FOLDER")
    sharepoint_domain: str | None = Field(None, alias="SHAREPOINT_DOMAIN")
    # A PEM file with the app's private key and the certificate registered on it: lets the
    # connector list the members of SharePoint site groups (SharePoint's REST API accepts an
    # app's certificate sign-in only). Unset: site groups stand for the source's --allow.
    sharepoint_cert_file: Path | None = Field(None, alias="SHAREPOINT_CERT_FILE")


class ConfluenceSettings(SettingsPart):
    """Confluence Cloud or Data Center spaces."""

    # CONFLUENCE_URL is the base, e.g. https://x.atlassian.net/wiki; with CONFLUENCE_EMAIL the
    # token is a Cloud API token (basic auth), without it a Data Center personal access token.
    confluence_url: str | None = Field(None, alias="CONFLUENCE_URL")
    confluence_token: SecretStr | None = Field(None, alias="CONFLUENCE_TOKEN")
    confluence_email: str | None = Field(None, alias="CONFLUENCE_EMAIL")
    confluence_spaces: CommaList = Field((), alias="CONFLUENCE_SPACES")
    confluence_domain: str | None = Field(None, alias="CONFLUENCE_DOMAIN")
    # Confluence groups that hold every licensed user: a space or page open to one of them is
    # open to everyone who may ask. Empty: every space counts as restricted to whom it names.
    confluence_everyone_groups: CommaList = Field(
        ("confluence-users",), alias="CONFLUENCE_EVERYONE_GROUPS"
    )
    # Read who may view each space (Cloud; Data Center 9.1+). False, for Data Center before
    # 9.1, which cannot say: give each space its audience with `ingest confluence:KEY --allow`.
    confluence_space_permissions: bool = Field(True, alias="CONFLUENCE_SPACE_PERMISSIONS")


class ConnectorSettings(SharePointSettings, ConfluenceSettings, WebSettings):
    """Every connector's settings, one group the core's settings are made with."""
