"""Session-wide real services and per-test databases."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from bots.runtime import Runtime
from bots.settings import AppSettings as Settings
from tests.support.services import (
    fresh_database,
    in_ci,
    redis_server,
    templated_postgres,
)

# In CI the fuzzers explore the same examples every run: a failure there is a real bug that
# reproduces, never a lucky draw. Locally they keep exploring new ground.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if in_ci():
    hypothesis_settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
SAMPLE_KNOWLEDGE = REPO / "examples" / "knowledge"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    with templated_postgres() as url:
        yield url


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, migrated database of its own for each test."""
    with fresh_database(pg_admin_url) as url:
        yield url


@pytest.fixture(scope="session")
def pgvector08_admin_url() -> Iterator[str]:
    with templated_postgres("pgvector08") as url:
        yield url


@pytest.fixture
def pgvector08_url(pgvector08_admin_url: str) -> Iterator[str]:
    """A fresh, migrated database on the pgvector 0.8 server."""
    with fresh_database(pgvector08_admin_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        if url is None:
            if in_ci():
                pytest.fail("redis-server is not installed; CI must install it (see .ci/run)")
            pytest.skip("redis-server is not installed here (CI installs it and runs these)")
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=tmp_path / "data",
        sample_knowledge=None,
        port=0,
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with await Runtime.start(settings) as rt:
        yield rt


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    """A private copy of the sample knowledge base that a test may change."""
    target = tmp_path / "knowledge"
    shutil.copytree(SAMPLE_KNOWLEDGE, target)
    return target


@pytest.fixture
async def loaded_runtime(runtime: Runtime) -> Runtime:
    """A runtime whose index holds the sample knowledge base."""
    report = await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
    assert not report.failed, report.failed
    return runtime
