"""``azure.extensions`` allows what the migrations create plus documented extras, nothing more."""

from __future__ import annotations

import re
from pathlib import Path

from mapperdb import platform

ROOT = Path(__file__).resolve().parents[2]
CREATE = re.compile(r"create\s+extension\s+(?:if\s+not\s+exists\s+)?\"?([a-z0-9_]+)", re.I)
# Allowed although no migration creates them; each with its reason (also in docs/infra.md).
EXTRAS = {
    # Created by migration 0020 (the policy branch): Azure's audit docs require the extension.
    "pgaudit": "audit logging; its creating migration is 0020",
    "pg_stat_statements": "statement statistics the analyzer and Query Store read",
    "hypopg": "hypothetical indexes for the analyzer's index advice",
}


def created_by_migrations() -> set[str]:
    return {
        name.lower()
        for path in (ROOT / "sql/migrations").glob("*.up.sql")
        for name in CREATE.findall(path.read_text("utf-8"))
    }


def test_allow_list_is_what_migrations_create_plus_documented_extras() -> None:
    allowed = set(platform.allowed_extension_names())
    created = created_by_migrations()
    assert created <= allowed, f"migrations create {sorted(created - allowed)}: allow them"
    unexplained = allowed - created - set(EXTRAS)
    assert not unexplained, f"allowed but neither created nor an explained extra: {unexplained}"
    doc = (ROOT / "docs/infra.md").read_text("utf-8")
    for name in EXTRAS:
        assert f"`{name}`" in doc, f"docs/infra.md must give the reason for {name}"
    assert "pg_cron" in created
