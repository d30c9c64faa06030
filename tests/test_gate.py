"""``mapperdb check``, the PR gate, on this repository and on a broken copy of its SQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from mapperdb.stage_inputs import STAGES, triggers

REPO = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = REPO / "tests" / "data" / "sarif-schema-2.1.0.json"


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
    assert all(stage["ok"] and stage["status"] == "passed" for stage in report["stages"])
    assert report["changed_since"] is None


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


def test_stage_inputs_name_the_gates_stages() -> None:
    from mapperdb.gate import STAGE_NAMES

    assert STAGES == STAGE_NAMES


@pytest.mark.parametrize(
    ("changed", "stages"),
    [
        (
            ["sql/migrations/0042_x.up.sql", "sql/migrations/0042_x.down.sql"],
            {"lint", "migrations"},
        ),
        ([".sqlfluff"], {"lint"}),
        (["infra/mapper_infra/stack.py"], {"synth", "policy"}),
        (["infra/environments/prod.toml"], {"synth", "policy"}),
        (["policies/waivers.toml"], {"synth", "policy"}),
        (["docs/infra.md"], {"synth", "policy"}),
        (["tools/mapperdb/data/azure_extensions.toml"], {"migrations", "synth", "policy"}),
        (["tools/mapperdb/platform/skus.py"], {"migrations", "synth", "policy"}),
        (["tools/mapperdb/lint/engine.py"], set(STAGES)),
        (["uv.lock"], set(STAGES)),
        (["package-lock.json"], set(STAGES)),
        (["cdktf.json"], set(STAGES)),
        (["pyproject.toml"], set(STAGES)),
        (["README.md", "docs/rules.md", "tests/test_gate.py", ".github/workflows/pr.yml"], set()),
        (["docs/rules.md", "sql/migrations/0042_x.up.sql"], {"lint", "migrations"}),
    ],
)
def test_each_change_runs_the_stages_that_read_it(changed: list[str], stages: set[str]) -> None:
    found = triggers(changed)
    assert set(found) == stages
    assert all(set(paths) <= set(changed) for paths in found.values())


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _pull_request(tmp_path: Path, files: dict[str, str]) -> Path:
    """A repository with this one's migrations on ``main`` and ``files`` on a branch."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "sql", repo / "sql")
    shutil.copy(REPO / ".sqlfluff", repo / ".sqlfluff")
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("notes\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "checkout", "-q", "-b", "change")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "change")
    return repo


def test_changed_since_skips_stages_whose_inputs_did_not_change(tmp_path: Path) -> None:
    versions = sorted(int(p.name[:4]) for p in (REPO / "sql/migrations").glob("*.up.sql"))
    name = f"sql/migrations/{versions[-1] + 1:04d}_change"
    repo = _pull_request(
        tmp_path,
        {f"{name}.up.sql": UNSAFE_INDEX, f"{name}.down.sql": "drop index x;\n"},
    )
    # migrations is left out to keep the test fast: lint shows that a changed stage runs.
    select = ("--stage", "lint", "--stage", "synth", "--stage", "policy")
    args = ("--changed-since", "main", "--repo", str(repo), *select)
    reason = "none of its inputs changed since main (changed: migrations)"

    text = run_check(*args)
    assert text.returncode == 1, text.stdout + text.stderr  # the unsafe index
    assert f"skip synth        {reason}" in text.stdout
    assert f"skip policy       {reason}" in text.stdout
    assert f"{name}.up.sql:2:42: LOCK001" in text.stdout

    report = json.loads(run_check(*args, "--format", "json").stdout)
    assert report["changed_since"] == "main"
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["lint"]["status"] == "failed" and stages["lint"]["counts"]["error"] >= 1
    assert stages["lint"]["summary"].startswith("2 files")  # only the changed up and down
    for skipped in ("synth", "policy"):
        assert stages[skipped]["status"] == "skipped" and stages[skipped]["ok"] is True
        assert stages[skipped]["skipped"] == reason and stages[skipped]["findings"] == []

    log = json.loads(run_check(*args, "--format", "sarif").stdout)
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text()))
    run = log["runs"][0]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [(n["descriptor"]["id"], n["message"]["text"]) for n in notes] == [
        ("synth", f"stage synth skipped: {reason}"),
        ("policy", f"stage policy skipped: {reason}"),
    ]
    assert [(s["name"], s["status"]) for s in run["properties"]["stages"]] == [
        ("lint", "failed"),
        ("synth", "skipped"),
        ("policy", "skipped"),
    ]

    summary = run_check(*args, "--format", "markdown").stdout
    assert summary.startswith("## mapperdb check: FAILED (changes since `main`)")
    assert f"| synth | ⏭️ skipped | | | | | {reason} |" in summary
    assert "| lint | ❌ failed |" in summary
    assert f"| error | safety | `LOCK001` | `{name}.up.sql:2` |" in summary

    github = run_check(*args, "--format", "github").stdout.splitlines()
    assert any(line.startswith(f"::error file={name}.up.sql,line=2,") for line in github)
    assert "::notice title=mapperdb check%3A synth skipped::" + reason in github


def test_changed_since_with_nothing_the_gate_reads_runs_nothing(tmp_path: Path) -> None:
    repo = _pull_request(tmp_path, {"docs/notes.md": "more notes\n"})
    result = run_check("--changed-since", "main", "--repo", str(repo), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    stages = json.loads(result.stdout)["stages"]
    assert [s["status"] for s in stages] == ["skipped"] * 4
    assert {s["skipped"] for s in stages} == {"nothing the gate reads changed since main"}


def test_changed_since_an_unknown_ref_is_a_usage_error(tmp_path: Path) -> None:
    repo = _pull_request(tmp_path, {"docs/notes.md": "x\n"})
    result = run_check("--changed-since", "nope", "--repo", str(repo))
    assert result.returncode == 2
    assert "--changed-since nope" in result.stderr and "Traceback" not in result.stderr


def test_the_migrations_stage_runs_on_the_postgresql_asked_for() -> None:
    """`mapperdb check --pg 17`: the migrations stage on Azure's major, saying what it emulates."""
    done = subprocess.run(
        [sys.executable, "-m", "mapperdb", "check", "--stage", "migrations", "--pg", "17",
         "--format", "json"],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [stage] = json.loads(done.stdout)["stages"]
    assert "on PostgreSQL 17" in stage["summary"]
    assert "pg_cron, pgaudit emulated" in stage["summary"]
