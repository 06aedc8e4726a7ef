"""`switchboard ingest --allow` and `ask --as` as an operator runs them: a real process, real
Postgres."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bots.test_cli import env, switchboard  # noqa: F401 (the fixture)
from tests.core.identity.helpers import SALARY_QUESTION, knowledge


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
