"""``mapperdb check``, the PR gate, on this repository and on a broken copy of its SQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema

REPO = Path(__file__).resolve().parent.parent


def run_check(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapperdb", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_gate_passes_on_this_repository() -> None:
    result = run_check("--format", "json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"] is True
    names = [stage["name"] for stage in report["stages"]]
    assert names == ["lint", "migrations", "synth", "policy"]
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


def _repo_with(tmp_path: Path, up: str, down: str = "select 1;\n") -> tuple[Path, str]:
    migrations = tmp_path / "sql" / "migrations"
    shutil.copytree(REPO / "sql" / "migrations", migrations)
    shutil.copy(REPO / ".sqlfluff", tmp_path / ".sqlfluff")
    versions = sorted(int(p.name[:4]) for p in migrations.glob("*.up.sql"))
    name = f"{versions[-1] + 1:04d}_change"
    (migrations / f"{name}.up.sql").write_text(up)
    (migrations / f"{name}.down.sql").write_text(down)
    return tmp_path, name


UNSAFE_INDEX = (
    "-- a new index on an existing table, built while writes wait\n"
    "create index storage_records_model_ix on mapper.storage_records (tenant_id, model_version);\n"
)


def test_gate_fails_on_a_lint_error_and_reports_it_in_sarif(tmp_path: Path) -> None:
    repo, name = _repo_with(tmp_path, UNSAFE_INDEX, "drop index mapper.storage_records_model_ix;\n")
    text = run_check("--stage", "lint", "--repo", str(repo))
    assert text.returncode == 1, text.stdout + text.stderr
    assert f"sql/migrations/{name}.up.sql:2:42: LOCK001" in text.stdout
    sarif = run_check(
        "--stage", "lint", "--stage", "migrations", "--format", "sarif", "--repo", str(repo)
    )
    assert sarif.returncode == 1
    log = json.loads(sarif.stdout)
    schema = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"LOCK001"}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert f"sql/migrations/{name}.up.sql" in uris


def test_gate_github_annotations(tmp_path: Path) -> None:
    repo, name = _repo_with(tmp_path, UNSAFE_INDEX)
    result = run_check("--stage", "lint", "--format", "github", "--repo", str(repo))
    assert result.returncode == 1
    assert result.stdout.startswith(f"::error file=sql/migrations/{name}.up.sql,line=2,")
