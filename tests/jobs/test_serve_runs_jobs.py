"""`switchboard serve` runs the scheduled jobs and stops them cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg


async def test_serve_runs_scheduled_jobs_and_shuts_down_cleanly(database_url: str, tmp_path: Path):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "SWITCHBOARD_", "REDIS_", "OPENAI_"))
    }
    env = {
        **clean,
        "DATABASE_URL": database_url,
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_SAMPLE_KNOWLEDGE": "",
        "PORT": "0",
        "SWITCHBOARD_SUMMARIES_CRON": "* * * * * *",  # every second, so the test need not wait
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots.cli",
        "serve",
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        runs: list[tuple[str, str]] = []
        for _ in range(300):
            async with await psycopg.AsyncConnection.connect(database_url) as conn:
                cur = await conn.execute(
                    "SELECT trigger, outcome FROM job_runs WHERE job = 'summaries' "
                    "AND outcome <> 'running'"
                )
                runs = list(await cur.fetchall())
            if len(runs) >= 2 or server.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert server.returncode is None, "the server exited"
        assert len(runs) >= 2 and set(runs) == {("schedule", "succeeded")}, runs
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(server.communicate(), timeout=30)
    assert server.returncode == 0, err.decode()
    assert b"jobs_scheduled" in out + err
