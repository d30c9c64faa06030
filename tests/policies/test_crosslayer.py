"""The SQL-against-infra checks (LMX001-005): each passes on the repository and each breaks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mapper_infra.config import Environment, load_environments
from mapperdb.findings import Finding
from mapperdb.policy.crosslayer import (
    AZURE_RESERVED_CONNECTIONS,
    CONFIGURATION,
    check_stack,
    created_extensions,
)

from ..conftest import Database

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "sql/migrations"
STACK = Path("stacks/prod/cdk.tf.json")


@pytest.fixture(scope="module")
def prod() -> Environment:
    (env,) = load_environments(ROOT / "infra/environments", ["prod"])
    return env


@pytest.fixture
def stack(prod_out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((prod_out / STACK).read_text("utf-8"))
    return loaded


def run(
    prod_out: Path, stack: dict[str, Any], env: Environment, migrations: Path = MIGRATIONS
) -> list[Finding]:
    return check_stack(prod_out / STACK, stack, env, migrations)


def set_parameter(stack: dict[str, Any], name: str, value: str | None) -> None:
    configs = stack["resource"][CONFIGURATION]
    for key, item in list(configs.items()):
        if item["name"] == name:
            if value is None:
                del configs[key]
            else:
                item["value"] = value


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def test_the_repository_passes(prod_out: Path, stack: dict[str, Any], prod: Environment) -> None:
    assert run(prod_out, stack, prod) == []
    created = {c.extension for c in created_extensions(MIGRATIONS)}
    assert {"pg_cron", "pgaudit"} <= created


def test_an_extension_not_allowed_on_the_server_fails(
    prod_out: Path, stack: dict[str, Any], prod: Environment, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    (migrations / "0099_postgis.up.sql").write_text("-- why\ncreate extension postgis;\n")
    findings = run(prod_out, stack, prod, migrations)
    assert rules(findings) == {"LMX001"}
    assert "0099_postgis.up.sql:2 creates extension postgis" in findings[0].message


def test_a_created_extension_missing_from_preload_fails(
    prod_out: Path, stack: dict[str, Any], prod: Environment
) -> None:
    set_parameter(stack, "shared_preload_libraries", "pg_stat_statements,pg_cron")
    findings = run(prod_out, stack, prod)
    assert rules(findings) == {"LMX002"}
    assert all("pgaudit" in f.message for f in findings)
    assert len(findings) == 3  # the primary and both replicas


def test_cron_in_another_database_fails(
    prod_out: Path, stack: dict[str, Any], prod: Environment
) -> None:
    set_parameter(stack, "cron.database_name", "postgres")
    assert rules(run(prod_out, stack, prod)) == {"LMX003"}


def test_pgaudit_log_unset_fails(prod_out: Path, stack: dict[str, Any], prod: Environment) -> None:
    set_parameter(stack, "pgaudit.log", None)
    assert rules(run(prod_out, stack, prod)) == {"LMX004"}
    set_parameter(stack, "pgaudit.log", "none")
    assert rules(run(prod_out, stack, prod)) == {"LMX004"}


def test_pgaudit_not_created_fails(
    prod_out: Path, stack: dict[str, Any], prod: Environment, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    for path in migrations.glob("*pgaudit*"):
        path.unlink()
    findings = run(prod_out, stack, prod, migrations)
    assert rules(findings) == {"LMX004"}
    assert "no migration creates pgaudit" in findings[0].message


def test_pooled_connections_beyond_max_connections_fail(
    prod_out: Path, stack: dict[str, Any], prod: Environment
) -> None:
    limit = prod.server.flexible_sku.max_connections - AZURE_RESERVED_CONNECTIONS
    fits = prod.model_copy(
        update={"server": prod.server.model_copy(update={"pooled_connections": limit})}
    )
    assert run(prod_out, stack, fits) == []
    over = prod.model_copy(
        update={"server": prod.server.model_copy(update={"pooled_connections": limit + 1})}
    )
    assert rules(run(prod_out, stack, over)) == {"LMX005"}
    # The value applied on the server counts too, when lower than the SKU's.
    set_parameter(stack, "max_connections", str(limit))
    assert rules(run(prod_out, stack, fits)) == {"LMX005"}


def test_undeclared_pooled_connections_fail(
    prod_out: Path, stack: dict[str, Any], prod: Environment
) -> None:
    none = prod.model_copy(
        update={"server": prod.server.model_copy(update={"pooled_connections": None})}
    )
    findings = run(prod_out, stack, none)
    assert rules(findings) == {"LMX005"} and "declares no" in findings[0].message


def test_migrations_create_pgaudit_with_its_event_triggers(db: Database) -> None:
    with psycopg.connect(db.superuser_conninfo) as conn:
        extensions = {r[0] for r in conn.execute("select extname from pg_catalog.pg_extension")}
        triggers = {r[0] for r in conn.execute("select evtname from pg_catalog.pg_event_trigger")}
    assert "pgaudit" in extensions
    assert {"pgaudit_ddl_command_end", "pgaudit_sql_drop"} <= triggers
