"""Turn files into LoadedDocuments: Markdown, HTML, plain text and PDF.

These functions block (file reads, PDF parsing); callers run them in a thread.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from bs4 import BeautifulSoup
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from core.errors import IngestError, UnsupportedDocument
from core.ingest.documents import LoadedDocument, Section

KNOWN_DOMAINS = frozenset({"hr", "it", "policy"})
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
# get_text(" ") puts a space between inline tags: "<b>VPN</b>:" would read "VPN :".
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)])")
_DOMAIN_KEYWORD = re.compile(r"domain\s*[:=]\s*([A-Za-z0-9_-]+)")


def content_hash(data: bytes, salt: str = "") -> str:
    return hashlib.sha256(salt.encode() + data).hexdigest()


def _domain_from_path(path: Path) -> str:
    for parent in path.parents:
        if parent.name.lower() in KNOWN_DOMAINS:
            return parent.name.lower()
    return "general"


def _decode(data: bytes, path: Path) -> str:
    if b"\x00" in data[:8192]:
        raise IngestError(f"{path.name} looks like a binary file, not text.", path=str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{path.name} is not valid UTF-8 text (byte {exc.start}).", path=str(path)
        ) from exc


def _markdown(data: bytes, path: Path, salt: str) -> LoadedDocument:
    text = _decode(data, path)
    meta: dict[str, object] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise IngestError(f"{path.name} has invalid front matter: {exc}", path=str(path)) from exc
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end():]
    heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    title = str(meta.get("title") or (heading.group(1).strip() if heading else path.stem))
    return LoadedDocument(
        uri=str(path),
        title=title,
        domain=str(meta.get("domain") or _domain_from_path(path)).lower(),
        kind="markdown",
        content_hash=content_hash(data, salt),
        sections=[Section(text=text)],
        path=str(path),
        metadata={k: str(v) for k, v in meta.items() if k not in {"title", "domain"}},
    )


def html_to_markdown(html: str) -> tuple[str, str | None, dict[str, str]]:
    """Main text of an HTML page as Markdown-ish text, its title, and its ``<meta>`` names."""
    soup = BeautifulSoup(html, "html.parser")
    metas = {
        str(tag.get("name")).lower(): str(tag.get("content"))
        for tag in soup.find_all("meta")
        if tag.get("name") and tag.get("content") is not None
    }
    title = soup.title.get_text(strip=True) if soup.title else None
    for tag in soup(["script", "style", "nav", "footer", "header", "aside", "noscript", "form"]):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    lines: list[str] = []
    for element in body.find_all(["h1", "h2", "h3", "h4", "p", "li", "tr", "pre", "blockquote"]):
        if element.find_parent(["li", "tr", "pre", "blockquote"]) is not None:
            continue
        if element.name == "tr":
            cells = [c.get_text(" ", strip=True) for c in element.find_all(["th", "td"])]
            text = " | ".join(c for c in cells if c)
        else:
            text = element.get_text(" ", strip=True)
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
        if not text:
            continue
        if element.name in {"h1", "h2", "h3", "h4"}:
            lines.append("\n" + "#" * int(element.name[1]) + " " + text)
        elif element.name == "li":
            lines.append("- " + text)
        else:
            lines.append(text)
    if not lines:
        lines.append(body.get_text("\n", strip=True))
    return "\n".join(lines).strip(), title, metas


def _html(data: bytes, path: Path, salt: str) -> LoadedDocument:
    text, title, metas = html_to_markdown(_decode(data, path))
    heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return LoadedDocument(
        uri=str(path),
        title=title or (heading.group(1).strip() if heading else path.stem),
        domain=(metas.get("domain") or _domain_from_path(path)).lower(),
        kind="html",
        content_hash=content_hash(data, salt),
        sections=[Section(text=text)],
        path=str(path),
    )


def _text(data: bytes, path: Path, salt: str) -> LoadedDocument:
    text = _decode(data, path)
    first = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
    return LoadedDocument(
        uri=str(path),
        title=first[:120] if len(first) <= 120 else path.stem,
        domain=_domain_from_path(path),
        kind="text",
        content_hash=content_hash(data, salt),
        sections=[Section(text=text)],
        path=str(path),
    )


@dataclass(frozen=True, slots=True)
class PdfText:
    """What pypdf extracts from a PDF: each page's text (1-based order) and the metadata we use."""

    pages: list[str]
    info: dict[str, str]


def read_pdf(data: bytes, path: Path) -> PdfText:
    """Extract a PDF's pages (the slow part of loading one: a second or more per ten pages)."""
    try:
        reader = PdfReader(io.BytesIO(data))
        info = reader.metadata or {}
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise IngestError(f"{path.name} is not a readable PDF: {exc}", path=str(path)) from exc
    return PdfText(pages, {k: str(info.get(k) or "") for k in ("/Title", "/Keywords", "/Subject")})


def pdf_document(text: PdfText, data: bytes, path: Path, salt: str) -> LoadedDocument:
    """A PDF's pages as a document: one section per page, its number kept."""
    sections = []
    for number, page_text in enumerate(text.pages, start=1):
        page_text = page_text.strip()
        if not page_text:
            continue
        first_line = page_text.splitlines()[0].strip()
        sections.append(
            Section(
                text=page_text, heading=first_line if len(first_line) <= 80 else None, page=number
            )
        )
    if not sections:
        raise IngestError(
            f"{path.name} has no extractable text (a scanned PDF needs OCR first).", path=str(path)
        )
    keywords = text.info.get("/Keywords", "") + " " + text.info.get("/Subject", "")
    domain_match = _DOMAIN_KEYWORD.search(keywords)
    return LoadedDocument(
        uri=str(path),
        title=text.info.get("/Title") or path.stem.replace("-", " ").title(),
        domain=(domain_match.group(1) if domain_match else _domain_from_path(path)).lower(),
        kind="pdf",
        content_hash=content_hash(data, salt),
        sections=sections,
        path=str(path),
        metadata={"pages": str(len(text.pages))},
    )


def _pdf(data: bytes, path: Path, salt: str) -> LoadedDocument:
    return pdf_document(read_pdf(data, path), data, path, salt)


LOADERS: dict[str, Callable[[bytes, Path, str], LoadedDocument]] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".html": _html,
    ".htm": _html,
    ".txt": _text,
    ".text": _text,
    ".pdf": _pdf,
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_bytes(data: bytes, name: str, *, salt: str = "") -> LoadedDocument:
    """Parse ``data`` as the kind its file ``name`` says (a relative path such as
    ``HR/leave.pdf``: its folders suggest the domain). Callers set uri, url and source."""
    path = Path(name)
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise UnsupportedDocument(
            f"{path.name}: {path.suffix or 'files without an extension'} is not a kind I can read.",
            path=name,
        )
    return loader(data, path, salt)


def load_file(path: Path, *, salt: str = "") -> LoadedDocument:
    """Read and parse one file. Raises ``IngestError`` with a message naming the file."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        supported = ", ".join(sorted(LOADERS))
        raise UnsupportedDocument(
            f"{path.name}: {path.suffix or 'files without an extension'} is not a kind I can "
            f"read (supported: {supported}).",
            path=str(path),
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"Cannot read {path}: {exc.strerror or exc}", path=str(path)) from exc
    return loader(data, path, salt)
