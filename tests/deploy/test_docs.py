"""The operator's docs name things that exist: metrics, settings, modules, other docs.

A renamed setting or module, or a new metric nobody described, fails here rather than in the
hands of an operator following the docs.
"""

from __future__ import annotations

import re
from pathlib import Path

from bots.settings import AppSettings as Settings
from core.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SETTINGS = {field.alias for field in Settings.model_fields.values()}
# Names in the docs that look like settings but are not Switchboard's.
NOT_SETTINGS = {"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB"}


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def exposed_names(metrics: Metrics) -> set[str]:
    """The names a scrape shows (a counter ``x`` is exposed as ``x_total``)."""
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in metrics.registry.collect()
    }


def test_every_metric_is_described_in_operations():
    operations = read("operations.md")
    table = {
        m.group(1) for m in re.finditer(r"^\| `(switchboard_[a-z_]+)` \|", operations, re.MULTILINE)
    }
    exposed = exposed_names(Metrics())
    assert exposed, "no metrics found"
    assert sorted(exposed - table) == [], "metrics missing from docs/operations.md"
    assert sorted(table - exposed) == [], "docs/operations.md describes metrics that do not exist"


def test_every_setting_the_docs_name_exists():
    pattern = re.compile(
        r"\b((?:SWITCHBOARD|SLACK|MICROSOFT|OPENAI|TEAMS|SHAREPOINT|CONFLUENCE)_[A-Z0-9_]+"
        r"|DATABASE_URL|REDIS_URL)\b"
    )
    for doc in sorted(DOCS.glob("*.md")) + [REPO / "README.md"]:
        named = set(pattern.findall(doc.read_text(encoding="utf-8"))) - NOT_SETTINGS
        assert sorted(named - SETTINGS) == [], f"{doc.name} names settings that do not exist"


def test_every_module_the_architecture_names_exists():
    architecture = read("architecture.md")
    paths = set(re.findall(r"`((?:bots|core|store|jobs)/[\w/]+\.py)`", architecture))
    assert len(paths) > 20
    assert sorted(p for p in paths if not (REPO / p).is_file()) == []


def test_links_between_docs_resolve():
    for doc in sorted(DOCS.glob("*.md")) + [REPO / "README.md"]:
        for target in re.findall(r"\]\(((?!https?:|#)[^)#\s]+)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
