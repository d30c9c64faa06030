"""``mapperdb check``, the PR gate, on this repository and on a broken copy of its SQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_check(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapperdb", "check", *args],
        cwd=cwd, capture_output=True, text=True, timeout=900, check=False,
    )


def test_gate_passes_on_this_repository() -> None:
    result = run_check("--format", "json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"] is True
    names = [stage["name"] for stage in report["stages"]]
    assert names[0] == "migrations" and {"synth", "policy"} <= set(names)
    assert all(stage["ok"] for stage in report["stages"])


def test_gate_fails_on_a_broken_migration_and_names_it(tmp_path: Path) -> None:
    migrations = tmp_path / "sql" / "migrations"
    shutil.copytree(REPO / "sql" / "migrations", migrations)
    versions = sorted(int(p.name[:4]) for p in migrations.glob("*.up.sql"))
    nxt = (versions[-1] if versions else 0) + 1
    (migrations / f"{nxt:04d}_broken.up.sql").write_text(
        "-- adds a column to a table that does not exist\n"
        "alter table mapper.nope add column x text;\n"
    )
    (migrations / f"{nxt:04d}_broken.down.sql").write_text("select 1;\n")
    result = run_check("--stage", "migrations", "--repo", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{nxt:04d}_broken.up.sql:2:" in result.stdout
    assert "MIG001" in result.stdout and "gate: FAILED" in result.stdout


def test_gate_usage_error_is_exit_2() -> None:
    result = run_check("--stage", "nonsense")
    assert result.returncode == 2
    assert "Invalid value for '--stage'" in result.stderr
