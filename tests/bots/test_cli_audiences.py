"""`switchboard ingest --allow` and `ask --as` as an operator runs them: a real process, real
Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from redis.asyncio import Redis

from tests.bots.test_cli import env, switchboard  # noqa: F401 (the fixture)
from tests.core.identity.helpers import SALARY_QUESTION, knowledge
from tests.core.llm.conftest import API_KEY, CHAT_MODEL, fake, fake_url  # noqa: F401
from tests.support import fake_confluence
from tests.support.fake_confluence import FakeConfluence


def sources_of(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [s["title"] for s in json.loads(result.stdout)["sources"]]


def test_ingest_allow_and_ask_as(env: dict[str, str], tmp_path: Path):  # noqa: F811
    public, managers = knowledge(tmp_path / "kb")

    typo = switchboard("ingest", str(managers), "--allow", "HR Managers", env=env)
    assert typo.returncode == 2 and "`HR Managers` is not a principal" in typo.stderr
    assert "Nothing was ingested" in typo.stderr and "Ingest:" not in typo.stdout

    done = switchboard("ingest", str(managers), "--allow", "group:HR Managers", env=env)
    assert done.returncode == 0, done.stderr
    assert switchboard("ingest", str(public), env=env).returncode == 0

    ask = ("ask", "--json", SALARY_QUESTION)
    assert "Salary bands 2027" not in sources_of(switchboard(*ask, env=env))
    assert "Salary bands 2027" not in sources_of(
        switchboard(*ask, "--as", "bob@example.com", env=env)
    )
    member = ("--as", "carol@example.com", "--group", "HR Managers")
    assert "Salary bands 2027" in sources_of(switchboard(*ask, *member, env=env))

    # Revoked: the next ingest of the folder gives it to Maria alone.
    again = switchboard("ingest", str(managers), "--allow", "maria@example.com", env=env)
    assert again.returncode == 0, again.stderr
    assert "Salary bands 2027" not in sources_of(switchboard(*ask, *member, env=env))
    assert "Salary bands 2027" in sources_of(
        switchboard(*ask, "--as", "maria@example.com", env=env)
    )
    refreshed = switchboard("ingest", "--permissions-only", env=env)
    assert refreshed.returncode == 0 and "Permissions:" in refreshed.stdout


def test_access_shows_who_may_read_each_restricted_document(
    env: dict[str, str], tmp_path: Path  # noqa: F811
):
    """An admin checks what is restricted, to whom, and whether a given person may read it."""
    public, managers = knowledge(tmp_path / "kb")
    assert switchboard("ingest", str(managers), "--allow", "group:HR Managers", env=env).returncode == 0
    assert switchboard("ingest", str(public), env=env).returncode == 0

    listed = switchboard("access", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "1 public document(s); 1 restricted." in listed.stdout
    assert "Salary bands 2027" in listed.stdout and "readers: group:hr managers" in listed.stdout
    assert "Annual leave" not in listed.stdout

    member = switchboard("access", "salary", "--as", "carol@example.com", "--group", "HR Managers",
                         env=env)
    assert "Salary bands 2027" in member.stdout and "[may read]" in member.stdout
    outsider = switchboard("access", "--as", "bob@example.com", env=env)
    assert "[may not read]" in outsider.stdout and "[may read]" not in outsider.stdout
    assert "0 restricted" in switchboard("access", "payroll", env=env).stdout


async def _run(*args: str, variables: dict[str, str]) -> tuple[int, str]:
    """The CLI in a real process, awaited, so fakes served by this test's loop answer it."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DATABASE_", "SWITCHBOARD_", "REDIS_", "CONFLUENCE_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots.cli", *args, env={**clean, **variables},
        cwd=Path(__file__).resolve().parents[2],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, err.decode()


async def test_permissions_only_drops_cached_answers_when_a_space_is_closed_on_error(
    env: dict[str, str], redis_url: str, fake_url: str  # noqa: F811
):
    """A space whose permissions cannot be read is closed, and `--permissions-only` then
    fails: the answers cached from it (on every replica, through Redis) go too."""
    wiki_server = FakeConfluence()
    wiki_server.put("HR", "Annual leave", "<p>Every associate gets 25 days of annual leave.</p>")
    redis = Redis.from_url(redis_url)
    async with fake_confluence.running(wiki_server) as base:
        wiki = {**env, "REDIS_URL": redis_url, "CONFLUENCE_URL": base,
                "CONFLUENCE_TOKEN": wiki_server.token, "CONFLUENCE_SPACES": "HR",
                # A chat model (the local fake): answers are cached, in Redis.
                "OPENAI_BASE_URL": fake_url, "OPENAI_API_KEY": API_KEY,
                "SWITCHBOARD_CHAT_MODEL": CHAT_MODEL}
        assert (await _run("ingest", "confluence:HR", variables=wiki))[0] == 0
        generation = int(await redis.get("sb:answers:generation") or 0)

        wiki_server.space_permissions_refused = True
        status, err = await _run("ingest", "--permissions-only", variables=wiki)
        assert status == 2 and "Cannot read who may view Confluence space HR" in err
        assert int(await redis.get("sb:answers:generation") or 0) > generation
    await redis.aclose()
