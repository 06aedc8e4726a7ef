""".env.example, docker-compose.yml and the Dockerfile agree with the code and with each other.

Docker cannot run here, so these check what would silently break a deployment: a setting
missing from .env.example or misspelt in compose, a user id or port that differs between the
image and the chart.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from bots.settings import AppSettings as Settings

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {field.alias for field in Settings.model_fields.values()}
_LINE = re.compile(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example() -> list[tuple[str, str, str]]:
    """(name, value, the comment line above it) for each setting line of .env.example."""
    lines = (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        match = _LINE.match(line)
        if match:
            found.append((match.group(1), match.group(2), lines[index - 1]))
    return found


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's last stage, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n\s*", " ", text)
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages[-1]


def test_env_example_lists_every_setting_once_with_an_explanation():
    entries = env_example()
    names = [name for name, _, _ in entries]
    assert sorted(set(SETTINGS) - set(names)) == [], "settings missing from .env.example"
    assert sorted(set(names) - SETTINGS) == [], ".env.example names settings that do not exist"
    assert len(names) == len(set(names)), "a setting is listed twice"
    unexplained = [
        name for name, _, above in entries if not above.startswith("# ") or _LINE.match(above)
    ]
    assert unexplained == []


def test_env_example_uncommented_as_it_is_starts(tmp_path: Path):
    """An operator who removes every "# " gets a valid configuration, not a parse error."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("\n".join(f"{name}={value}" for name, value, _ in env_example()) + "\n")
    settings = Settings(_env_file=dotenv)
    assert settings.port == 3978 and settings.slack_bot_token is None


def test_env_example_marks_every_secret(tmp_path: Path):
    secret = {
        field.alias
        for field in Settings.model_fields.values()
        if "SecretStr" in str(field.annotation)
    }
    marked = {name for name, _, above in env_example() if above.startswith("# (secret)")}
    assert marked == secret


def test_compose_runs_postgres_with_pgvector_redis_and_the_bot():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert services["redis"]["image"].split(":")[1].startswith("7")

    bot, migrate = services["bot"], services["migrate"]
    assert migrate["command"] == ["switchboard", "migrate"]
    assert bot["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert bot["ports"] == ["3978:3978"]
    for service in (bot, migrate):
        assert set(service["environment"]) <= SETTINGS, set(service["environment"]) - SETTINGS
        database = urlsplit(service["environment"]["DATABASE_URL"])
        postgres = services["postgres"]["environment"]
        assert database.hostname == "postgres" and database.username == postgres["POSTGRES_USER"]
        assert database.path == "/" + postgres["POSTGRES_DB"]
        assert urlsplit(service["environment"]["REDIS_URL"]).hostname == "redis"


def test_image_and_chart_agree_on_user_port_and_commands():
    final = dockerfile()
    instructions = dict(final)
    helpers = (REPO / "deploy/helm/switchboard/templates/_helpers.tpl").read_text()
    user = re.search(r"runAsUser: (\d+)", helpers).group(1)
    group = re.search(r"runAsGroup: (\d+)", helpers).group(1)
    assert instructions["FROM"].endswith("runtime")
    assert instructions["USER"] == f"{user}:{group}"
    assert instructions["EXPOSE"] == "3978"
    assert "/healthz" in instructions["HEALTHCHECK"]
    assert instructions["CMD"] == '["switchboard", "serve", "--host", "0.0.0.0"]'
    # The base image's Python is one the project supports (pgserver wheels stop at 3.12).
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    base = re.search(r"python:(\d+\.\d+)", (REPO / "Dockerfile").read_text()).group(1)
    assert requires == ">=3.11,<3.13" and base in {"3.11", "3.12"}


def test_the_build_context_holds_every_package_the_wheel_needs():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= allowed
    assert {"pyproject.toml", project["project"]["readme"], "examples/knowledge"} <= allowed
    copied = " ".join(args for instruction, args in dockerfile() if instruction == "COPY")
    assert "examples/knowledge" in copied
