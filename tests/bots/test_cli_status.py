"""`switchboard ask --json` reports whether the documents answered: complete or not_found."""

from __future__ import annotations

import json

from tests.bots.test_cli import env, switchboard  # noqa: F401 (env is a fixture)
from tests.conftest import SAMPLE_KNOWLEDGE


def test_ask_json_reports_not_found_for_a_question_the_documents_dont_cover(
    env: dict[str, str],  # noqa: F811
):
    assert switchboard("ingest", str(SAMPLE_KNOWLEDGE), env=env).returncode == 0

    declined = switchboard("ask", "--json", "How do I join the pension scheme in Brazil?", env=env)
    assert declined.returncode == 0, declined.stderr
    data = json.loads(declined.stdout)
    assert data["status"] == "not_found"
    assert "the People Team (HR)" in data["answer"]
    assert data["citations"] == [] and data["sources"] == []
    assert data["model"] is None

    answered = switchboard("ask", "--json", "How do I submit an expense claim?", env=env)
    data = json.loads(answered.stdout)
    assert data["status"] == "complete" and data["citations"]
