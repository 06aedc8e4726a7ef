"""The `switchboard` command as a user runs it: a real process, real Postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_KNOWLEDGE


def switchboard(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SWITCHBOARD_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, "-m", "bots.cli", *args],
        env={**clean, **env},
        check=False,  # the tests read the exit code
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "SWITCHBOARD_DATA_DIR": str(tmp_path / "data")}


def test_ingest_then_ask_json_cites_the_right_document(env: dict[str, str]):
    ingest = switchboard("ingest", str(SAMPLE_KNOWLEDGE), env=env)
    assert ingest.returncode == 0, ingest.stderr
    assert "failed" in ingest.stdout and " 0 failed" in ingest.stdout

    result = switchboard("ask", "--json", "--user", "alice", "How do I set up MFA on a new phone?", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)

    assert set(data) >= {"answer", "citations", "sources", "route", "timings", "conversation_id", "message_id"}
    assert data["citations"], data
    first = data["citations"][0]
    assert {"n", "title", "snippet"} <= set(first) and ("url" in first or "path" in first)
    assert any("mfa" in (c.get("path") or "").lower() for c in data["citations"])
    # Sources name the file inside the ingested folder, never the server's own path.
    assert all(not c["path"].startswith("/") for c in data["citations"] if "path" in c)
    assert any(c.get("path", "").startswith("it/") for c in data["citations"])
    assert str(SAMPLE_KNOWLEDGE) not in result.stdout
    assert all({"title", "score"} <= set(s) for s in data["sources"])
    assert [s["rank"] for s in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    assert data["route"]["domains"][0] == "it" and data["route"]["router"] == "lexical"
    assert set(data["timings"]) == {"retrieval_ms", "ttft_ms", "total_ms"}

    # --thread continues the same conversation as the same user.
    follow = switchboard(
        "ask", "--json", "--user", "alice", "--thread", data["thread"], "what if I lost my phone?", env=env
    )
    assert follow.returncode == 0, follow.stderr
    assert json.loads(follow.stdout)["conversation_id"] == data["conversation_id"]


def test_ask_streams_text_and_lists_sources(env: dict[str, str]):
    assert switchboard("ingest", str(SAMPLE_KNOWLEDGE), env=env).returncode == 0
    result = switchboard("ask", "Which Wi-Fi network should guests use?", env=env)
    assert result.returncode == 0, result.stderr
    assert "Sources:" in result.stdout
    assert "[1]" in result.stdout


def test_empty_question_gets_a_clear_error(env: dict[str, str]):
    result = switchboard("ask", "   ", env=env)
    assert result.returncode == 2
    assert "didn't catch a question" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_url_gets_a_clear_error(tmp_path: Path):
    result = switchboard(
        "ask", "anything", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}, timeout=60
    )
    assert result.returncode == 2
    assert "Cannot reach the database at 127.0.0.1:9/none" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_busy_port_says_so_and_exits_1(env: dict[str, str]):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = switchboard("serve", "--port", str(port), env=env, timeout=60)
    assert result.returncode == 1
    assert f"port {port} is in use — is Switchboard already running? set PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_ingest_of_a_binary_file_reports_the_file_and_fails(env: dict[str, str], tmp_path: Path):
    binary = tmp_path / "scan.pdf"
    binary.write_bytes(os.urandom(2048))
    result = switchboard("ingest", str(binary), env=env)
    assert result.returncode == 1
    assert "scan.pdf is not a readable PDF" in result.stderr
    assert "0 added" in result.stdout


def test_migrate_twice_changes_nothing(env: dict[str, str]):
    first = switchboard("migrate", env=env)
    second = switchboard("migrate", env=env)
    assert first.returncode == second.returncode == 0
    assert "up to date" in second.stdout


def test_ingested_folders_are_remembered_for_the_reingest_job(env: dict[str, str], tmp_path: Path):
    import psycopg

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "note.md").write_text("---\ntitle: Lunch\ndomain: hr\n---\n# Lunch\n\nLunch is at noon.\n")
    assert switchboard("ingest", str(folder), env=env).returncode == 0
    missing = switchboard("ingest", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode == 1

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT uri, added_by FROM knowledge_sources").fetchall()
    assert rows == [(str(folder.resolve()), "cli")]


def test_sources_link_to_the_intranet_when_the_folder_is_mapped(env: dict[str, str]):
    mapped = {**env, "SWITCHBOARD_SOURCE_URL_BASE": "https://intranet.example.com/handbook/"}
    assert switchboard("ingest", str(SAMPLE_KNOWLEDGE), env=mapped).returncode == 0
    result = switchboard("ask", "--json", "How do I set up MFA on a new phone?", env=mapped)
    data = json.loads(result.stdout)
    urls = [c.get("url", "") for c in data["citations"]]
    assert urls and all(u.startswith("https://intranet.example.com/handbook/") for u in urls)
    assert any(u.startswith("https://intranet.example.com/handbook/it/") for u in urls)
    assert str(SAMPLE_KNOWLEDGE) not in result.stdout
