"""``switchboard teams-package``: the zip an admin uploads to Teams.

The checked-in manifest (``manifest/teams/manifest.json``) carries placeholders; the package
gets the bot's app id (the Azure Bot's Microsoft App ID) as both the app id and the bot id, and
the public host name in ``validDomains``. The two icons go in beside it, at the zip's root.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigurationError

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifest" / "teams"
ICON_SIZES = {"color": (192, 192), "outline": (32, 32)}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?$")
_PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class Package:
    """What was written, for the command to report."""

    path: Path
    app_id: str
    domains: tuple[str, ...]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (no image library needed)."""
    if not data.startswith(_PNG) or data[12:16] != b"IHDR":
        raise ConfigurationError("a Teams icon must be a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _host(domain: str) -> str:
    host = domain.strip()
    host = re.sub(r"^[a-z]+://", "", host).split("/", 1)[0]
    if not _HOST.match(host):
        raise ConfigurationError(f"{domain!r} is not a host name (like bot.example.com)")
    return host


def build_package(
    *,
    app_id: str | None,
    output: Path,
    domains: tuple[str, ...] = (),
    version: str | None = None,
    manifest_dir: Path = MANIFEST_DIR,
) -> Package:
    """Write the upload zip to ``output``; raises ``ConfigurationError`` saying what is wrong."""
    if not app_id:
        raise ConfigurationError(
            "The package needs the bot's app id: set MICROSOFT_APP_ID or pass --app-id."
        )
    if not _GUID.match(app_id):
        raise ConfigurationError(
            f"The app id {app_id!r} is not a GUID (the Azure Bot's Microsoft App ID)."
        )
    manifest = json.loads((manifest_dir / "manifest.json").read_text("utf-8"))
    manifest["id"] = app_id
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    if domains:
        manifest["validDomains"] = list(dict.fromkeys(_host(d) for d in domains))
    if version:
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise ConfigurationError(f"The version {version!r} must look like 1.2.3.")
        manifest["version"] = version
    icons: dict[str, bytes] = {}
    for kind, expected in ICON_SIZES.items():
        name = manifest["icons"][kind]
        data = (manifest_dir / name).read_bytes()
        if png_size(data) != expected:
            raise ConfigurationError(
                f"The {kind} icon {name} must be {expected[0]}x{expected[1]} pixels."
            )
        icons[name] = data
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for name, data in icons.items():
            archive.writestr(name, data)
    return Package(path=output, app_id=app_id, domains=tuple(manifest.get("validDomains", ())))
