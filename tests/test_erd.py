"""``mapperdb erd``: the live catalog as a diagram, and one line for a missing schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Database

REPO = Path(__file__).resolve().parent.parent


def erd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapperdb", "erd", *args],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=120,
    )  # fmt: skip


def test_the_diagram_and_a_missing_schema(db: Database) -> None:
    done = erd("--dsn", db.admin_conninfo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("erDiagram") and "storage_records" in done.stdout
    missing = erd("--dsn", db.admin_conninfo, "--schema", "nosuch")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "no such schema" in missing.stderr
    assert "Traceback" not in missing.stderr
