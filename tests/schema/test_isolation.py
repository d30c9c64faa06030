"""Isolation by attack: what tenant A, or a session without a tenant, can do to tenant B."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.schema.schema_helpers import (
    STORAGE_COLUMNS,
    TENANT_A,
    TENANT_B,
    Speaker,
    add_tenant,
    storage_row,
    tenant,
)

TENANT_TABLES = ("tenant_configs", "storage_records", "detector_executions", "model_metrics")
TIME_KEY = {
    "storage_records": "created_at",
    "detector_executions": "started_at",
    "model_metrics": "recorded_at",
}


def count(cur: psycopg.Cursor[Any], query: str, *params: Any) -> int:
    row = cur.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def theirs(speak: Speaker, table: str, tenant_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """A tenant's ids, as the superuser sees them (what an attacker might guess)."""
    with speak.superuser() as conn:
        return conn.execute(
            f"select id from mapper.{table} where tenant_id = %s", (tenant_id,)
        ).fetchall()


def owners_view(speak: Speaker, table: str) -> dict[str, int]:
    """Rows per tenant as the superuser sees them (the ground truth, never the subject)."""
    with speak.superuser() as conn:
        rows = conn.execute(
            f"select tenant_id::text, count(*) from mapper.{table} group by 1"
        ).fetchall()
    return {tid: n for tid, n in rows}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_tenant_sees_only_its_rows(two_tenants: Speaker, table: str) -> None:
    for connect in (two_tenants.app, two_tenants.readonly):
        with connect() as conn, tenant(conn, TENANT_A) as cur:
            seen = cur.execute(f"select distinct tenant_id from mapper.{table}").fetchall()
            assert seen == [(TENANT_A,)]
            assert (
                count(cur, f"select count(*) from mapper.{table} where tenant_id = %s", TENANT_B)
                == 0
            )


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_tenant_cannot_update_or_delete_other_tenant(two_tenants: Speaker, table: str) -> None:
    before = owners_view(two_tenants, table)
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            f"update mapper.{table} set tenant_id = tenant_id where tenant_id = %s", (TENANT_B,)
        )
        assert cur.rowcount == 0
        # Deletes go through delete_rows() (delete_tenant() has no target but the context).
        if table != "tenant_configs":
            ids = [r[0] for r in theirs(two_tenants, table, TENANT_B)]
            assert cur.execute("select mapper.delete_rows(%s, %s)", (table, ids)).fetchone() == (0,)
    assert owners_view(two_tenants, table) == before


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_tenant_cannot_move_its_rows_to_another_tenant(two_tenants: Speaker, table: str) -> None:
    with (
        two_tenants.app() as conn,
        pytest.raises(errors.InsufficientPrivilege, match="row-level security"),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute(f"update mapper.{table} set tenant_id = %s", (TENANT_B,))


def test_tenant_cannot_insert_for_another_tenant(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn:
        with (
            pytest.raises(errors.InsufficientPrivilege, match="row-level security"),
            tenant(conn, TENANT_A) as cur,
        ):
            cur.execute(
                f"insert into mapper.storage_records ({STORAGE_COLUMNS}) "
                "values (%s, now(), %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                storage_row(TENANT_B, 99)[:1] + storage_row(TENANT_B, 99)[2:],
            )
        for statement, params in (
            (
                "insert into mapper.detector_executions (tenant_id, detector_type, correlation_id)"
                " values (%s, 'pii', 'x')",
                (TENANT_B,),
            ),
            (
                "insert into mapper.model_metrics (tenant_id, model_version, detector_type,"
                " metric_name, metric_value) values (%s, 'v1', 'pii', 'f1', 1)",
                (TENANT_B,),
            ),
        ):
            with (
                pytest.raises(errors.InsufficientPrivilege, match="row-level security"),
                tenant(conn, TENANT_A) as cur,
            ):
                cur.execute(statement, params)
    assert owners_view(two_tenants, "detector_executions")[str(TENANT_B)] == 3


def test_existence_does_not_leak_through_unique_or_foreign_keys(two_tenants: Speaker) -> None:
    """Claiming B's id, or a nonexistent one, fails the same way: RLS, before any key check."""
    unknown = uuid.uuid4()
    with two_tenants.app() as conn:
        messages = []
        for target in (TENANT_B, unknown):
            with pytest.raises(psycopg.Error) as caught, tenant(conn, TENANT_A):
                add_tenant_in_tx(conn, target)
            messages.append((type(caught.value), caught.value.diag.sqlstate))
        assert messages[0] == messages[1] == (errors.InsufficientPrivilege, "42501")
        # A context naming B's id is B's own session: the duplicate key is B's own row.
        with pytest.raises(errors.UniqueViolation, match="tenant_configs_pk"):
            add_tenant(conn, TENANT_B, "bravo")


INSERT_ONE = {
    "tenant_configs": "insert into mapper.tenant_configs (tenant_id, name, key_vault_key_uri) "
    "values (%s, 'x', 'https://kv-x01.vault.azure.net/keys/k')",
    "storage_records": f"insert into mapper.storage_records ({STORAGE_COLUMNS}) "
    "values (%s, now(), repeat('a', 64), 'pii', '{L}', 0.5, 'v1', 'c', 'westeurope', '\\x01', "
    "repeat('0', 32))",
    "detector_executions": "insert into mapper.detector_executions "
    "(tenant_id, detector_type, correlation_id) values (%s, 'pii', 'c')",
    "model_metrics": "insert into mapper.model_metrics (tenant_id, model_version, detector_type, "
    "metric_name, metric_value) values (%s, 'v1', 'pii', 'f1', 1)",
}


def add_tenant_in_tx(conn: psycopg.Connection[Any], tenant_id: uuid.UUID) -> None:
    conn.execute(
        "insert into mapper.tenant_configs (tenant_id, name, key_vault_key_uri) "
        "values (%s, 'x', 'https://kv-x01.vault.azure.net/keys/k')",
        (tenant_id,),
    )


@pytest.mark.parametrize("context", [None, ""])
@pytest.mark.parametrize("table", TENANT_TABLES)
def test_no_tenant_sees_nothing_and_writes_nothing(
    two_tenants: Speaker, table: str, context: str | None
) -> None:
    with two_tenants.app() as conn:
        with conn.transaction(), conn.cursor() as cur:
            if context is not None:
                cur.execute("select set_config('app.tenant_id', %s, true)", (context,))
            assert count(cur, f"select count(*) from mapper.{table}") == 0
            cur.execute(f"update mapper.{table} set tenant_id = tenant_id")
            assert cur.rowcount == 0
            if table == "tenant_configs":
                assert count(cur, "select mapper.delete_tenant()") == 0
            else:
                ids = [r[0] for r in theirs(two_tenants, table, TENANT_A)]
                assert count(cur, "select mapper.delete_rows(%s, %s)", table, ids) == 0
        with (
            pytest.raises(errors.InsufficientPrivilege, match="row-level security"),
            conn.transaction(),
        ):
            if context is not None:
                conn.execute("select set_config('app.tenant_id', %s, true)", (context,))
            conn.execute(INSERT_ONE[table], (TENANT_A,))


def test_context_does_not_leak_into_next_transaction(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn:
        with tenant(conn, TENANT_A) as cur:
            assert count(cur, "select count(*) from mapper.storage_records") == 3
        with conn.transaction(), conn.cursor() as cur:
            assert count(cur, "select count(*) from mapper.storage_records") == 0
            row = cur.execute("select current_setting('app.tenant_id', true)").fetchone()
            assert row is not None and row[0] in (None, "")


def test_invalid_tenant_context_fails_closed(two_tenants: Speaker) -> None:
    with (
        two_tenants.app() as conn,
        pytest.raises(errors.InvalidTextRepresentation),
        tenant(conn, "a' or true --") as cur,
    ):
        cur.execute("select count(*) from mapper.storage_records")


@pytest.mark.parametrize(
    ("query", "user"),
    [
        ("select count(*) from mapper.records_by_detector('-infinity', 'infinity')", "app"),
        ("select count(*) from mapper.detector_failure_rates('-infinity', 'infinity')", "app"),
        ("select count(*) from mapper.daily_records('-infinity', 'infinity')", "app"),
        ("select count(*) from mapper.daily_executions('-infinity', 'infinity')", "readonly"),
        ("select count(*) from mapper.audit_activity('-infinity', 'infinity')", "auditor"),
        ("select count(*) from mapper.verify_audit_chain()", "auditor"),
        ("select count(*) from mapper.audit_records", "auditor"),
    ],
)
def test_reporting_is_filtered_by_tenant(two_tenants: Speaker, query: str, user: str) -> None:
    with two_tenants.admin() as conn:
        conn.execute("select mapper.refresh_daily_aggregates()")
        conn.commit()
    connect = getattr(two_tenants, user)
    with connect() as conn:
        with conn.transaction():
            nothing = conn.execute(query).fetchone()
        with tenant(conn, TENANT_A) as cur:
            mine = cur.execute(query).fetchone()
    # Without a tenant nothing is visible; verify_audit_chain() says so in one problem row
    # rather than an empty (intact-looking) answer (0016, tests/security/test_audit_anchor.py).
    assert nothing == ((1,) if "verify" in query else (0,))
    assert mine is not None
    if "verify" not in query:
        assert mine[0] > 0
    # With B's data present, A's answers equal what A alone would see (B's rows add nothing).
    with two_tenants.superuser() as conn, tenant(conn, TENANT_B) as cur:
        cur.execute("delete from mapper.storage_records where tenant_id = %s", (TENANT_B,))
        cur.execute("delete from mapper.detector_executions where tenant_id = %s", (TENANT_B,))
    with two_tenants.admin() as conn:
        conn.execute("select mapper.refresh_daily_aggregates()")
        conn.commit()
    with connect() as conn, tenant(conn, TENANT_A) as cur:
        assert cur.execute(query).fetchone() == mine


def test_materialized_views_are_not_readable_by_app_roles(two_tenants: Speaker) -> None:
    for connect in (two_tenants.app, two_tenants.readonly, two_tenants.auditor):
        for mv in ("storage_records_daily_mv", "detector_executions_daily_mv"):
            with (
                connect() as conn,
                pytest.raises(errors.InsufficientPrivilege),
                tenant(conn, TENANT_A) as cur,
            ):
                cur.execute(f"select count(*) from mapper.{mv}")


def partitions(speak: Speaker) -> list[str]:
    with speak.superuser() as conn:
        rows = conn.execute(
            "select c.oid::regclass::text from pg_class c join pg_inherits i on i.inhrelid = c.oid "
            "where c.relnamespace = 'mapper'::regnamespace and c.relkind in ('r', 'p') order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_partitions_are_not_readable_directly(two_tenants: Speaker) -> None:
    names = partitions(two_tenants)
    assert len(names) >= 5 * 4  # 4 partitioned tables, default + >= 4 months each
    for connect in (two_tenants.app, two_tenants.readonly, two_tenants.auditor):
        with connect() as conn:
            for name in names:
                with pytest.raises(errors.InsufficientPrivilege), tenant(conn, TENANT_A) as cur:
                    cur.execute(f"select count(*) from {name}")
    with two_tenants.superuser() as conn:
        grants = conn.execute(
            "select c.relname, c.relacl::text from pg_class c join pg_inherits i "
            "on i.inhrelid = c.oid where c.relnamespace = 'mapper'::regnamespace "
            "and c.relkind = 'r' and c.relacl is not null "
            "and c.relacl::text ~ 'mapper_(app|readonly|auditor)=|(^|[{,])='"
        ).fetchall()
        unprotected = conn.execute(
            "select c.relname from pg_class c join pg_inherits i on i.inhrelid = c.oid "
            "where c.relnamespace = 'mapper'::regnamespace and c.relkind = 'r' "
            "and not c.relrowsecurity"
        ).fetchall()
    assert grants == []
    assert unprotected == []


@pytest.mark.parametrize(
    "statement",
    [
        "alter table mapper.storage_records disable row level security",
        "alter table mapper.storage_records no force row level security",
        "drop policy storage_records_app_select on mapper.storage_records",
        "alter policy storage_records_app_select on mapper.storage_records using (true)",
        "create policy sneaky on mapper.storage_records for select to mapper_app using (true)",
        "set role mapper_owner",
        "grant mapper_owner to app_user",
        "alter table mapper.audit_records disable trigger audit_records_append_only",
        "alter table mapper.storage_records disable trigger storage_records_audit_insert",
        "select mapper.audit_append('aaaaaaaa-0000-4000-8000-00000000000a', 'x', 'insert', 1,"
        " '{\"id\": [1]}', null, '[\"x\"]')",
        "select mapper.create_digest_audit('tenant_configs', 'created_at')",
        "select count(*) from mapper.purge_expired()",
        "select count(*) from mapper.maintain_partitions()",
        "select mapper.refresh_daily_aggregates()",
        "create table mapper.mine (tenant_id uuid)",
        "set session_replication_role = replica",
        "lock table mapper.storage_records in access exclusive mode",
        "lock table mapper.tenant_configs in share row exclusive mode",
        "delete from mapper.storage_records",
    ],
)
def test_app_cannot_escalate(two_tenants: Speaker, statement: str) -> None:
    with two_tenants.app() as conn:
        with pytest.raises(psycopg.Error) as caught, tenant(conn, TENANT_A) as cur:
            cur.execute(statement)
        assert isinstance(caught.value, errors.InsufficientPrivilege) or (
            "must be owner" in str(caught.value) or "permission denied" in str(caught.value)
        )


def test_maintenance_flag_gives_app_nothing(two_tenants: Speaker) -> None:
    """The owner's maintenance-mode policies apply to mapper_owner only."""
    with two_tenants.app() as conn, tenant(conn, None) as cur:
        cur.execute("select set_config('mapper.maintenance', 'on', true)")
        assert count(cur, "select count(*) from mapper.storage_records") == 0
        assert count(cur, "select count(*) from mapper.tenant_configs") == 0


def test_app_roles_have_no_bypass_and_own_nothing(two_tenants: Speaker) -> None:
    with two_tenants.superuser() as conn:
        roles = conn.execute(
            "select rolname, rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb "
            "from pg_roles where rolname like 'mapper\\_%' order by 1"
        ).fetchall()
        owners = conn.execute(
            "select distinct pg_get_userbyid(relowner) from pg_class "
            "where relnamespace = 'mapper'::regnamespace "
            "union select distinct pg_get_userbyid(proowner) from pg_proc "
            "where pronamespace = 'mapper'::regnamespace "
            "union select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'mapper'"
        ).fetchall()
        public_functions = conn.execute(
            "select p.oid::regprocedure::text from pg_proc p "
            "where p.pronamespace = 'mapper'::regnamespace "
            "and (p.proacl is null or p.proacl::text ~ '(^|[{,])=')"
        ).fetchall()
        definer_without_path = conn.execute(
            "select p.oid::regprocedure::text from pg_proc p "
            "where p.pronamespace = 'mapper'::regnamespace and p.prosecdef "
            "and not exists (select from unnest(p.proconfig) c where c like 'search_path=%')"
        ).fetchall()
        public_tables = conn.execute(
            "select relname from pg_class where relnamespace = 'mapper'::regnamespace "
            "and relacl::text ~ '(^|[{,])='"
        ).fetchall()
    assert [r[0] for r in roles] == [
        "mapper_app",
        "mapper_auditor",
        "mapper_maintainer",
        "mapper_owner",
        "mapper_readonly",
    ]
    assert all(r[1:] == (False, False, False, False, False) for r in roles)
    assert owners == [("mapper_owner",)]
    assert public_functions == []
    assert definer_without_path == []
    assert public_tables == []


def test_every_tenant_table_forces_rls(two_tenants: Speaker) -> None:
    with two_tenants.superuser() as conn:
        rows = conn.execute(
            "select c.relname, c.relrowsecurity, c.relforcerowsecurity from pg_class c "
            "join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' "
            "where c.relnamespace = 'mapper'::regnamespace and c.relkind in ('r', 'p') "
            "and not c.relispartition order by 1"
        ).fetchall()
    assert [r[0] for r in rows] == sorted(
        [*TENANT_TABLES, "audit_records", "audit_chain_heads", "tenant_data_keys"]
    )
    assert all(r[1] and r[2] for r in rows)
