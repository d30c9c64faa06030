"""Catalog rules: every index says which query it serves, foreign keys are covered, no index
duplicates another; the ER diagram comes from the catalog; the seed writes through the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from mapperdb.erd import mermaid_erd, replace_block
from mapperdb.errors import EnvironmentProblem
from mapperdb.seed import seed_database
from tests.schema.schema_helpers import Speaker, tenant

INDEXES = """
select c.relname, i.relname, obj_description(i.oid, 'pg_class'),
    array(select a.attname from unnest(x.indkey) with ordinality k(n, o)
          join pg_attribute a on a.attrelid = c.oid and a.attnum = k.n order by k.o)
from pg_index x
join pg_class i on i.oid = x.indexrelid
join pg_class c on c.oid = x.indrelid
where c.relnamespace = 'mapper'::regnamespace and not c.relispartition
order by 1, 2
"""
FOREIGN_KEYS = """
select c.relname, f.conname, array(select a.attname from unnest(f.conkey) with ordinality k(n, o)
    join pg_attribute a on a.attrelid = c.oid and a.attnum = k.n order by k.o)
from pg_constraint f join pg_class c on c.oid = f.conrelid
where f.contype = 'f' and c.relnamespace = 'mapper'::regnamespace and not c.relispartition
"""


def catalog(speak: Speaker, query: str) -> list[tuple[Any, ...]]:
    with speak.superuser() as conn:
        return conn.execute(query).fetchall()


def test_every_index_says_which_query_it_serves(speak: Speaker) -> None:
    rows = catalog(speak, INDEXES)
    assert len(rows) >= 13
    assert [r[1] for r in rows if not r[2] or len(r[2]) < 20] == []


def test_no_index_duplicates_or_prefixes_another(speak: Speaker) -> None:
    rows = catalog(speak, INDEXES)
    for table, name, _, cols in rows:
        for other_table, other, _, other_cols in rows:
            if other_table == table and other != name:
                assert other_cols[: len(cols)] != cols, f"{name} is a prefix of {other}"


def test_every_foreign_key_is_covered_by_an_index(speak: Speaker) -> None:
    indexes = catalog(speak, INDEXES)
    keys = catalog(speak, FOREIGN_KEYS)
    assert len(keys) == 4  # the three data tables and tenant_data_keys (0018)
    for table, name, cols in keys:
        assert cols[0] == "tenant_id", name
        assert any(t == table and ic[: len(cols)] == cols for t, _, _, ic in indexes), name


def test_erd_is_generated_from_the_catalog(speak: Speaker) -> None:
    with psycopg.connect(speak.db.admin_conninfo) as conn:
        diagram = mermaid_erd(conn)
    assert diagram.startswith("erDiagram\n")
    for table in ("tenant_configs", "storage_records", "audit_records", "model_metrics"):
        assert f"    {table} {{" in diagram
    assert "storage_records_p2" not in diagram  # partitions folded into their parent
    assert 'tenant_configs ||--o{ storage_records : "storage_records_tenant_fk (tenant_id)"' in (
        diagram
    )
    assert "uuid tenant_id PK,FK" in diagram
    doc = replace_block("a\n<!-- erd:begin -->\nold\n<!-- erd:end -->\nb\n", diagram)
    assert doc.startswith("a\n<!-- erd:begin -->\n```mermaid\nerDiagram\n")
    assert doc.endswith("```\n<!-- erd:end -->\nb\n")


def test_docs_diagram_is_the_live_catalog(speak: Speaker) -> None:
    """docs/schema.md carries the diagram ``mapperdb erd --write`` makes from this schema."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "schema.md").read_text()
    with psycopg.connect(speak.db.admin_conninfo) as conn:
        diagram = mermaid_erd(conn)
    assert replace_block(doc, diagram) == doc, "run: mapperdb erd --dsn DSN --write docs/schema.md"


def test_seed_writes_through_the_app_role_with_audit(speak: Speaker) -> None:
    committed: list[int] = []
    result = seed_database(
        speak.db.conninfo("app_user"),
        tenants=2,
        rows=300,
        random_seed=3,
        on_tenant=lambda: committed.append(1),
    )
    assert len(committed) == 2  # progress: one call per committed tenant
    assert (result.tenants, result.storage_records, result.detector_executions) == (2, 600, 600)
    assert result.model_metrics == 60
    with speak.superuser() as conn:
        tenants = [r[0] for r in conn.execute("select tenant_id from mapper.tenant_configs")]
        users = conn.execute("select distinct db_user, actor from mapper.audit_records").fetchall()
        entries = conn.execute(
            "select count(*), sum(entries), max(entries) from mapper.audit_records"
        ).fetchone()
    assert users == [("app_user", "mapperdb-seed")]
    assert entries is not None
    links, rows, biggest = entries
    assert rows == 2 * (1 + 300 + 300 + 30)  # every row written has its entry
    assert 2 * 4 <= links <= 2 * 7  # a link per statement (split where ids cross a thousand)
    assert biggest == 300
    for tid in tenants:
        with speak.auditor() as conn, tenant(conn, tid) as cur:
            assert cur.execute("select count(*) from mapper.verify_audit_chain()").fetchone() == (
                0,
            )
        with speak.app() as conn, tenant(conn, tid) as cur:
            assert cur.execute(
                "select count(*) from mapper.storage_records s join mapper.detector_executions e "
                "using (tenant_id, correlation_id)"
            ).fetchone() == (300,)


def test_seed_as_the_admin_for_sandbox_demo(speak: Speaker) -> None:
    """``mapperdb sandbox --demo`` seeds with the admin's DSN: it writes as mapper_app too."""
    with pytest.raises(EnvironmentProblem, match="member of mapper_app"):
        seed_database(speak.db.admin_conninfo, tenants=1, rows=50, random_seed=5)
    try:
        result = seed_database(
            speak.db.admin_conninfo, tenants=1, rows=50, random_seed=5, grant_app_role=True
        )
    finally:
        # Roles are cluster-wide: the membership would outlive this test's database.
        with psycopg.connect(speak.db.admin_conninfo, autocommit=True) as conn:
            conn.execute("revoke mapper_app from current_user")
    assert result.storage_records == 50
    with speak.superuser() as conn:
        users = conn.execute("select distinct db_user from mapper.audit_records").fetchall()
    assert users == [("mapperadmin",)]


def test_seed_command_reports_a_database_without_migrations(
    pg: Any, logins: dict[str, str]
) -> None:
    from click.testing import CliRunner

    from mapperdb.seed import seed

    runner = CliRunner()
    outcome = runner.invoke(
        seed, ["--dsn", pg.conninfo("postgres", "app_user"), "--tenants", "1", "--rows", "1"]
    )
    assert outcome.exit_code != 0
    assert "are the migrations applied" in str(outcome.exception)


def test_seeding_the_same_tenants_twice_says_so(speak: Speaker) -> None:
    from click.testing import CliRunner

    from mapperdb.seed import seed

    args = ["--dsn", speak.db.conninfo("app_user"), "--tenants", "1", "--rows", "5"]
    first = CliRunner().invoke(seed, [*args, "--random-seed", "11"], standalone_mode=False)
    assert first.exception is None
    with pytest.raises(EnvironmentProblem, match="these tenants already exist"):
        CliRunner().invoke(
            seed, [*args, "--random-seed", "11"], standalone_mode=False, catch_exceptions=False
        )
