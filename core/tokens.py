"""Token counts without a network: tiktoken when its encoding is already on disk, else an estimate.

tiktoken downloads an encoding the first time it is asked for one and caches the file. Offline,
that download fails — or worse, waits on a socket. So the cached file is looked for first, where
tiktoken itself would look (``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR`` or the temp folder's
``data-gym-cache``, named by the SHA-1 of its URL), and checked against its published SHA-256;
tiktoken is asked only when both are right, so it never has a reason to download.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_BLOBS = "https://openaipublic.blob.core.windows.net/encodings/"
# tiktoken's published files and their SHA-256 (as in tiktoken_ext.openai_public).
ENCODING_FILES: Mapping[str, tuple[str, str]] = {
    "o200k_base": (
        _BLOBS + "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        _BLOBS + "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}
# Chat messages carry a few tokens of framing each (role, separators) beyond their text, and
# every reply is primed with a few more.
PER_MESSAGE = 4
PRIMING = 3


def estimate_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer would count: about 4 characters or 0.75 words a token."""
    return _estimate(_estimate_tally(text))


@dataclass(frozen=True, slots=True)
class Tally:
    """A text's share of the count of a longer text it is part of, joined to the other parts at
    whitespace: the estimate's words and marks and its characters, or a tokenizer's tokens.
    Tallies add up; ``TokenCounter.total`` turns their sum into tokens."""

    pieces: int
    chars: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.pieces + other.pieces, self.chars + other.chars)


def _estimate_tally(text: str) -> Tally:
    # Counted without making a string of each piece. A piece never holds whitespace, so the
    # pieces of parts joined at whitespace are the pieces of the whole.
    return Tally(_PIECES.subn("", text)[1], len(text)) if text else Tally(0)


def _estimate(tally: Tally) -> int:
    return max(tally.pieces, math.ceil(tally.chars / 4))


class TokenCounter(Protocol):
    name: str

    def count(self, text: str) -> int: ...

    def tally(self, text: str) -> Tally: ...

    def total(self, tally: Tally) -> int: ...


class EstimatingCounter:
    """The estimate, for when no tokenizer is available. The parts' tallies add up to the
    whole's exactly: max(words, characters / 4) is taken of the sums, not summed."""

    name = "estimate"

    def count(self, text: str) -> int:
        return estimate_tokens(text)

    def tally(self, text: str) -> Tally:
        return _estimate_tally(text)

    def total(self, tally: Tally) -> int:
        return _estimate(tally)


class TiktokenCounter:
    """Exact counts for OpenAI models (close ones for other BPE models). Parts joined at line
    breaks add up to the whole's count within about a token a join."""

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding
        self.name = f"tiktoken:{encoding.name}"

    def count(self, text: str) -> int:
        # disallowed_special=() counts "<|endoftext|>" typed by a user as text, not an error.
        return len(self._encoding.encode(text, disallowed_special=())) if text else 0

    def tally(self, text: str) -> Tally:
        return Tally(self.count(text))

    def total(self, tally: Tally) -> int:
        return tally.pieces


def count_messages(counter: TokenCounter, messages: Sequence[Mapping[str, Any]]) -> int:
    """Tokens a chat request's messages take, framing included."""
    total = PRIMING
    for message in messages:
        total += PER_MESSAGE + counter.count(str(message.get("content") or ""))
    return total


def tiktoken_cache_dir() -> Path | None:
    """Where tiktoken caches encodings; None when caching is switched off (an empty value).

    Mirrors tiktoken's own lookup, which reads these variables itself at load time.
    """
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            value = os.environ[variable]
            return Path(value) if value else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def cached_encoding_file(name: str, cache_dir: Path | None) -> Path | None:
    """The verified cached file of encoding ``name``, or None."""
    if name not in ENCODING_FILES or cache_dir is None:
        return None
    url, sha256 = ENCODING_FILES[name]
    path = cache_dir / hashlib.sha1(url.encode()).hexdigest()
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return path if hashlib.sha256(data).hexdigest() == sha256 else None


def _preferred_encodings(model: str | None) -> list[str]:
    names: list[str] = []
    if model:
        try:
            import tiktoken

            names.append(tiktoken.encoding_name_for_model(model))
        except (ImportError, KeyError):
            pass  # not an OpenAI model name: any modern BPE count is closer than the estimate
    for fallback in ("o200k_base", "cl100k_base"):
        if fallback not in names:
            names.append(fallback)
    return names


def load_counter(model: str | None = None) -> TokenCounter:
    """A tiktoken counter for ``model`` when an encoding is on disk; the estimate otherwise.

    Blocking (reads a few MB): call it through ``asyncio.to_thread`` or ``load_counter_async``.
    """
    cache_dir = tiktoken_cache_dir()
    for name in _preferred_encodings(model):
        if cached_encoding_file(name, cache_dir) is None:
            continue
        try:
            import tiktoken

            counter = TiktokenCounter(tiktoken.get_encoding(name))
        except Exception as exc:  # noqa: BLE001 - any tokenizer trouble means "estimate"
            log.warning("tiktoken_unavailable", encoding=name, error=str(exc))
            break
        log.info("token_counter", counter=counter.name, model=model)
        return counter
    log.info("token_counter", counter="estimate", model=model,
             reason="no tiktoken encoding cached on this machine")
    return EstimatingCounter()


async def load_counter_async(model: str | None = None, *, timeout: float = 10.0) -> TokenCounter:
    """``load_counter`` off the event loop, and never longer than ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(load_counter, model), timeout)
    except TimeoutError:
        log.warning("tiktoken_load_timed_out", timeout_s=timeout)
        return EstimatingCounter()
