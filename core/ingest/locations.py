"""Where a file shows itself in an answer's sources: never the server's own path.

``/srv/app/examples/knowledge/it/password-reset.md`` tells an associate nothing and tells
anyone how the server is laid out. A file is shown by its path inside the folder that was
ingested (``it/password-reset.md``); when an operator maps that folder to the intranet
(``SWITCHBOARD_SOURCE_URL_BASE``), the source links there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote


def shown_path(path: Path, folders: Sequence[Path]) -> str:
    """``path`` inside the first of ``folders`` holding it; a file ingested on its own is
    shown by its name."""
    for folder in folders:
        if path.is_relative_to(folder):
            return path.relative_to(folder).as_posix()
    return path.name


def mapped_url(base: str | None, shown: str) -> str | None:
    """``base`` + the shown path, each segment quoted; None without a base."""
    if not base:
        return None
    return base.rstrip("/") + "/" + quote(shown)
