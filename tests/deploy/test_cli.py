"""``mapperdb deploy`` as a pipeline runs it: one-line errors, exit codes, the apply summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from mapperdb.db import wants_entra_token
from mapperdb.deploy.cli import ENTRA_ADMIN_TYPE, entra_user
from mapperdb.deploy.deployment import Deployment, Target
from mapperdb.deploy.steps import Steps
from mapperdb.deploy.terraform import Terraform
from tests.conftest import Database
from tests.deploy.conftest import MIGRATIONS, REPO, write_stack

MAPPERDB = Path(sys.executable).parent / "mapperdb"


def _clean_env(**extra: str) -> dict[str, str]:
    """No Azure credentials or subscription of any kind, as on a fresh clone."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARM_", "AZURE_")) and k != "DATABASE_URL"
    }
    return {**env, **extra}


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MAPPERDB), "deploy", *args],
        cwd=cwd,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout's shape: cdktf.json, the real environment files, the real migrations."""
    root = tmp_path / "repo"
    (root / "infra").mkdir(parents=True)
    shutil.copytree(REPO / "infra/environments", root / "infra/environments")
    (root / "cdktf.json").write_text("{}")
    (root / "sql").mkdir()
    (root / "sql/migrations").symlink_to(MIGRATIONS)
    return root


def test_broken_environment_file_is_one_line_naming_the_field(repo: Path) -> None:
    path = repo / "infra/environments/prod.toml"
    path.write_text(path.read_text().replace('workload = "oltp"', 'workload = "batch"'))
    done = _run(["--env", "prod", "--validate-only"], repo)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("mapperdb: error:")]
    assert len(errors) == 1
    assert "prod.toml: server.workload:" in errors[0]
    assert "Traceback" not in done.stderr


def test_validate_only_and_dry_run_exclude_each_other(repo: Path) -> None:
    done = _run(["--env", "dev", "--validate-only", "--dry-run"], repo)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "mapperdb: error: --validate-only and --dry-run exclude each other; choose one"
    )


def test_apply_without_a_synthesized_stack_says_what_to_run(repo: Path) -> None:
    done = _run(["--env", "dev"], repo)
    assert done.returncode == 2
    assert "no synthesized stack at" in done.stderr
    assert "mapperdb deploy --env dev --dry-run first" in done.stderr


def test_terraform_missing_from_path_is_one_line(repo: Path, tmp_path: Path) -> None:
    write_stack(repo / "cdktf.out/stacks/dev")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = _run(["--env", "dev"], repo, PATH=str(empty))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mapperdb: error: terraform not found on PATH; install Terraform 1.11+ "
        "(https://developer.hashicorp.com/terraform/install)"
    ]


def test_apply_of_a_reviewed_plan_prints_one_screen_summary(
    repo: Path, empty_db: Database, terraform_binary: Path
) -> None:
    workdir = repo / "cdktf.out/stacks/dev"
    write_stack(workdir)
    target = Target(env="dev", workdir=workdir, migrations=MIGRATIONS)
    Deployment(target, Terraform(workdir, terraform_binary), Steps(echo=lambda _l: None)).plan(
        workdir / "tfplan", ()
    )
    done = _run(["--env", "dev"], repo, DATABASE_URL=empty_db.admin_conninfo)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("deployed dev: plan ")
    assert lines[0].endswith("(2 to add, 0 to change, 0 to destroy)")
    assert lines[1].startswith("database: mapperadmin@")
    for step in ("terraform apply", "migrate up", "migrate verify", "smoke check", "total"):
        assert any(line.strip().startswith(step) for line in lines), step
    assert len(lines) <= 24  # one screen
    assert "-> terraform apply" in done.stderr and "ok smoke check (" in done.stderr

    again = _run(["--env", "dev"], repo, DATABASE_URL=empty_db.admin_conninfo)
    assert again.returncode == 0, again.stderr
    assert "ok terraform apply (done by an earlier run at " in again.stderr


@pytest.mark.slow
def test_validate_only_passes_without_credentials() -> None:
    """The acceptance: a checkout with no Azure credentials validates prod (synth + policy)."""
    done = _run(["--env", "prod", "--validate-only"], REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("prod: valid (environment file, synth, policy)")
    assert "ok policy (" in done.stderr


def test_dsn_from_outputs_uses_the_stacks_entra_admin_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No DATABASE_URL: the primary from the server_fqdn output, as the Entra admin group the
    deploying identity belongs to, with a token for password (sslmode=require)."""
    stack = tmp_path / "cdk.tf.json"
    admin = {"principal_name": "lmdb-prod-admins", "principal_type": "Group"}
    stack.write_text(json.dumps({"resource": {ENTRA_ADMIN_TYPE: {"server_entra-admin": admin}}}))
    user = entra_user(stack)
    assert user == "lmdb-prod-admins"
    target = Target(env="prod", workdir=tmp_path, migrations=MIGRATIONS, entra_user=user)
    fqdn = "lmdb-prod-pg.postgres.database.azure.com"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    conninfo = target.database({"server_fqdn": fqdn})
    assert target.database({}) is None  # no server yet
    assert conninfo is not None
    assert conninfo_to_dict(conninfo) == {
        "host": fqdn,
        "port": "5432",
        "dbname": "mapper",
        "user": "lmdb-prod-admins",
        "sslmode": "require",
    }
    assert wants_entra_token(conninfo)
