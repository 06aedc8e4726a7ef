"""`switchboard jobs list` and `switchboard jobs run NAME` as an operator runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg_pool

from tests.jobs.seed import seed_questions, week_of_questions


def switchboard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "SWITCHBOARD_", "REDIS_", "OPENAI_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "bots.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )


async def test_jobs_run_prints_the_prompts_it_stored_and_jobs_list_shows_the_run(
    database_url: str, tmp_path: Path
):
    env = {"DATABASE_URL": database_url, "SWITCHBOARD_DATA_DIR": str(tmp_path / "data")}
    async with psycopg_pool.AsyncConnectionPool(
        database_url, kwargs={"autocommit": True}, open=False
    ) as pool:
        await seed_questions(pool, week_of_questions(), now=datetime.now(UTC))

    run = await asyncio.to_thread(switchboard, "jobs", "run", "weekly-prompts", env=env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("weekly-prompts succeeded")
    assert "Stored 9 prompts" in lines[1]
    numbered = [line.strip() for line in lines[2:]]
    assert [line.split(". ", 1)[0] for line in numbered] == [str(n) for n in range(1, 10)]
    assert "1. How do I reset my password?" in numbered

    listing = await asyncio.to_thread(switchboard, "jobs", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert set(rows) == {"weekly-prompts", "reingest", "retention", "summaries"}
    assert "0 2 * * sun" in rows["weekly-prompts"] and "succeeded" in rows["weekly-prompts"]
    assert "prompts=9" in rows["weekly-prompts"]
    assert rows["retention"].rstrip().endswith("never")

    unknown = await asyncio.to_thread(switchboard, "jobs", "run", "nightly", env=env)
    assert unknown.returncode == 2 and "no job named 'nightly'" in unknown.stderr
