"""Apply with migrations against the ephemeral PostgreSQL, the smoke check, and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from mapperdb.db import Connector
from mapperdb.deploy.deployment import STATE_FILE, summary_paths
from mapperdb.deploy.smoke import EXPECTED_ROLES, smoke_check
from mapperdb.errors import EnvironmentProblem, FindingsError
from mapperdb.migrate.runner import MigrationFailed
from tests.conftest import Database
from tests.deploy.conftest import MIGRATIONS, MakeDeployment, write_stack

BROKEN = "0900_deploy_probe"


def _migrations_with_probe(directory: Path, *, broken: bool) -> Path:
    """The real migrations plus one more, which fails when ``broken``."""
    shutil.copytree(MIGRATIONS, directory, dirs_exist_ok=True)
    body = "select 1 / 0;" if broken else "select 1;"
    (directory / f"{BROKEN}.up.sql").write_text(f"-- A probe for the deploy tests.\n{body}\n")
    (directory / f"{BROKEN}.down.sql").write_text("-- Nothing to undo.\nselect 1;\n")
    return directory


def _applied_versions(conninfo: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select version from mapperdb.schema_history where state = 'applied' order by 1"
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_apply_then_migrations_verify_and_smoke(
    make_deployment: MakeDeployment, empty_db: Database, tmp_path: Path
) -> None:
    lines: list[str] = []
    deployment = make_deployment(conninfo=empty_db.admin_conninfo, protected={}, lines=lines)
    report = deployment.plan(tmp_path / "tfplan")
    assert report.migrations is not None
    assert len(report.migrations) == len(list(MIGRATIONS.glob("*.up.sql")))
    deployment.apply(tmp_path / "tfplan")
    names = [r.name for r in deployment.steps.results]
    assert names[-7:] == [
        "terraform init",
        "review plan",
        "terraform apply",
        "server parameters",
        "migrate up",
        "migrate verify",
        "smoke check",
    ]
    assert all(r.status == "done" for r in deployment.steps.results)
    assert any(line.startswith("ok smoke check (") and "RLS forced on" in line for line in lines)
    assert len(_applied_versions(empty_db.admin_conninfo)) == len(report.migrations)
    # The reviewed summary next to the plan is left as the plan job wrote it.
    assert json.loads(summary_paths(tmp_path / "tfplan")[0].read_text())["detailed_exitcode"] == 2
    table = "\n".join(deployment.steps.table())
    assert "migrate up" in table and "total" in table


def test_rerun_after_a_failed_migration_resumes_after_the_apply(
    make_deployment: MakeDeployment, empty_db: Database, tmp_path: Path
) -> None:
    migrations = _migrations_with_probe(tmp_path / "migrations", broken=True)
    first = make_deployment(conninfo=empty_db.admin_conninfo, migrations=migrations, protected={})
    first.plan(tmp_path / "tfplan")
    with pytest.raises(MigrationFailed):
        first.apply(tmp_path / "tfplan")
    state = json.loads((first.target.workdir / STATE_FILE).read_text())
    assert list(state["done"]) == ["terraform apply"]
    assert 900 not in _applied_versions(empty_db.admin_conninfo)

    _migrations_with_probe(migrations, broken=False)  # the fix lands; the reviewed plan stays
    second = make_deployment(conninfo=empty_db.admin_conninfo, migrations=migrations, protected={})
    second.apply(tmp_path / "tfplan")
    status = {r.name: r.status for r in second.steps.results}
    assert status["terraform apply"] == "resumed"
    assert status["migrate up"] == status["smoke check"] == "done"
    assert _applied_versions(empty_db.admin_conninfo)[-1] == 900


def test_rerun_without_state_file_sees_the_plan_already_applied(
    make_deployment: MakeDeployment, empty_db: Database, tmp_path: Path
) -> None:
    """A fresh runner has no state file: Terraform calls the applied plan stale, and a plan
    with no changes shows that it was this plan that got applied."""
    deployment = make_deployment(conninfo=empty_db.admin_conninfo, protected={})
    deployment.plan(tmp_path / "tfplan")
    deployment.apply(tmp_path / "tfplan")
    (deployment.target.workdir / STATE_FILE).unlink()
    again = make_deployment(conninfo=empty_db.admin_conninfo, protected={})
    again.apply(tmp_path / "tfplan")
    applied = next(r for r in again.steps.results if r.name == "terraform apply")
    assert applied.status == "done"
    assert applied.detail.startswith("already applied by an earlier run")


def test_smoke_check_names_a_tenant_table_without_forced_rls(db: Database) -> None:
    result = smoke_check(Connector(db.admin_conninfo))
    assert "tenant_configs" in result.tenant_tables
    assert set(EXPECTED_ROLES) <= {
        "mapper_owner",
        "mapper_app",
        "mapper_readonly",
        "mapper_auditor",
    }
    with psycopg.connect(db.superuser_conninfo, autocommit=True) as conn:
        conn.execute("alter table mapper.tenant_configs no force row level security")
    with pytest.raises(
        FindingsError, match=r"mapper\.tenant_configs: row level security is not forced"
    ):
        smoke_check(Connector(db.admin_conninfo))


def test_smoke_check_names_a_missing_role(empty_db: Database) -> None:
    with pytest.raises(FindingsError) as caught:
        smoke_check(Connector(empty_db.admin_conninfo), roles=(*EXPECTED_ROLES, "mapper_nobody"))
    assert "role mapper_nobody is missing" in caught.value.message
    assert "role mapper_app" not in caught.value.message
    assert "no tenant tables in schema mapper" in caught.value.message


def test_migrations_only_change_applies_an_empty_plan(
    make_deployment: MakeDeployment, db: Database, tmp_path: Path
) -> None:
    """The common deploy: no infrastructure change, the migrations are what moves."""
    first = make_deployment(conninfo=db.admin_conninfo, protected={})
    first.plan(tmp_path / "first")
    first.apply(tmp_path / "first")
    second = make_deployment(conninfo=db.admin_conninfo, protected={})
    report = second.plan(tmp_path / "second")
    assert not report.summary.has_changes and report.migrations == ()
    second.apply(tmp_path / "second")
    details = {r.name: (r.status, r.detail) for r in second.steps.results}
    assert details["terraform apply"] == ("done", "applied")
    assert details["migrate up"] == ("done", "0 migration(s) applied")


def test_smoke_check_goes_through_the_endpoints_the_stack_outputs(
    make_deployment: MakeDeployment, db: Database, workdir: Path, tmp_path: Path
) -> None:
    """The endpoint outputs name hosts; here both name the one local server, which is a
    primary: right for the read-write endpoint, wrong for the read-only one."""
    host = str(conninfo_to_dict(db.admin_conninfo)["host"])
    write_stack(workdir, outputs={"read_write_endpoint": host})
    deployment = make_deployment(conninfo=db.admin_conninfo, protected={})
    deployment.plan(tmp_path / "first")
    deployment.apply(tmp_path / "first")
    smoke = next(r for r in deployment.steps.results if r.name == "smoke check")
    assert smoke.detail.endswith("endpoints ok: primary, read_write_endpoint")

    write_stack(workdir, outputs={"read_write_endpoint": host, "read_only_endpoint": host})
    again = make_deployment(conninfo=db.admin_conninfo, protected={})
    again.plan(tmp_path / "second")
    with pytest.raises(FindingsError, match="expected a read-only replica, but it accepts writes"):
        again.apply(tmp_path / "second")


def test_a_static_parameter_waiting_for_a_restart_stops_the_apply_before_migrating(
    make_deployment: MakeDeployment, empty_db: Database, tmp_path: Path
) -> None:
    """A new server's shared_preload_libraries (pgaudit, pg_cron) applies at its first restart:
    migrating before it would fail at 0020's CREATE EXTENSION pgaudit; the apply says so first."""
    deployment = make_deployment(conninfo=empty_db.admin_conninfo, protected={})
    deployment.plan(tmp_path / "tfplan")
    with psycopg.connect(empty_db.superuser_conninfo, autocommit=True) as conn:
        running = int(conn.execute("show max_connections").fetchone()[0])  # type: ignore[index]
        conn.execute(f"alter system set max_connections = {running + 1}")
        conn.execute("select pg_reload_conf()")
    try:
        with pytest.raises(EnvironmentProblem) as caught:
            deployment.apply(tmp_path / "tfplan")
    finally:
        with psycopg.connect(empty_db.superuser_conninfo, autocommit=True) as conn:
            conn.execute("alter system reset max_connections")
            conn.execute("select pg_reload_conf()")
    message = caught.value.message
    assert "max_connections wait for a restart" in message and "\n" not in message
    assert "restart_on_parameter_change" in message
    with psycopg.connect(empty_db.admin_conninfo) as conn:  # nothing migrated, not even history
        assert conn.execute("select to_regclass('mapperdb.schema_history')").fetchone() == (None,)
    # Restarted (here: the setting undone), the same apply goes on where it stopped.
    deployment.apply(tmp_path / "tfplan")
    assert len(_applied_versions(empty_db.admin_conninfo)) == len(list(MIGRATIONS.glob("*.up.sql")))
