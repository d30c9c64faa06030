"""Noisy neighbours and side channels: session limits that bind the login members of the app
roles (not only their groups), what an app session may lock, and ids that say nothing about
other tenants' writes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import errors, sql

from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.conftest import MIGRATIONS, Database
from tests.schema.schema_helpers import (
    LOGINS,
    TENANT_A,
    TENANT_B,
    Speaker,
    add_rows,
    add_tenant,
    tenant,
)

LIMITS = {
    "idle_in_transaction_session_timeout": "30s",
    "lock_timeout": "10s",
    "statement_timeout": "1min",
}


@pytest.fixture
def migrated(pg: EphemeralPostgres, logins: dict[str, str]) -> Iterator[Speaker]:
    """A database migrated from scratch: settings of a database are not copied with a template,
    so the clones the other tests use do not carry them."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg.create_database(name)
    Runner(Connector(pg.admin_conninfo(name)), MIGRATIONS).up()
    yield Speaker(Database(pg, name))
    pg.drop_database(name)


def settings(conn: psycopg.Connection[object]) -> dict[str, str]:
    return {
        name: str(conn.execute("select current_setting(%s)", (name,)).fetchone()[0])  # type: ignore[index]
        for name in LIMITS
    }


def test_limits_bind_every_login_member_not_the_admin(migrated: Speaker) -> None:
    for user in LOGINS:
        with migrated.connect(user) as conn:
            assert settings(conn) == LIMITS, user
    # A login made after the migration is bound as well.
    with psycopg.connect(migrated.db.admin_conninfo, autocommit=True) as conn:
        conn.execute("drop role if exists late_app_user")
        conn.execute("create role late_app_user login in role mapper_app")
    try:
        with psycopg.connect(migrated.db.conninfo("late_app_user")) as conn:
            assert settings(conn) == LIMITS
    finally:
        with psycopg.connect(migrated.db.admin_conninfo, autocommit=True) as conn:
            conn.execute("drop role late_app_user")
    with migrated.admin() as conn:
        assert set(settings(conn).values()) == {"0"}


def shorten(speak: Speaker, **values: str) -> None:
    """The migration's mechanism (database settings) with values a test can wait for."""
    with psycopg.connect(speak.db.admin_conninfo, autocommit=True) as conn:
        for name, value in values.items():
            conn.execute(
                sql.SQL("alter database {} set {} = {}").format(
                    sql.Identifier(speak.db.name), sql.Identifier(name), sql.Literal(value)
                )
            )


def test_an_app_session_cannot_stall_the_others(migrated: Speaker) -> None:
    with migrated.app() as conn:
        for tid, name in ((TENANT_A, "alpha"), (TENANT_B, "bravo")):
            add_tenant(conn, tid, name)
    # Values a test can wait for, long enough that a loaded machine does not end the holder
    # before the steps that need it (nothing below waits on a clock: it polls the catalog).
    shorten(
        migrated,
        idle_in_transaction_session_timeout="5s",
        lock_timeout="500ms",
        statement_timeout="3s",
    )
    holder = migrated.app()
    holder_pid = holder.info.backend_pid
    holder.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
    # The strongest lock an app session can hold: rows (here its tenant row, which every write
    # of the tenant's audit chain and foreign keys touches).
    holder.execute("update mapper.tenant_configs set name = 'held'")
    # A write that needs it waits at most lock_timeout, then fails rather than queueing.
    with (
        migrated.app() as other,
        pytest.raises(errors.LockNotAvailable),
        tenant(other, TENANT_A) as cur,
    ):
        cur.execute("update mapper.tenant_configs set retention_days = 30")
    # Another tenant is not held up at all.
    with migrated.app() as other, tenant(other, TENANT_B) as cur:
        add_rows(cur, TENANT_B, 1)
    # The holder, idle in its transaction, is ended, and its lock with it.
    with psycopg.connect(migrated.db.superuser_conninfo, autocommit=True) as watcher:
        deadline = time.monotonic() + 120
        gone = "select not exists (select from pg_catalog.pg_stat_activity where pid = %s)"
        while not watcher.execute(gone, (holder_pid,)).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the idle holder was never ended"
            time.sleep(0.1)
    with pytest.raises(errors.IdleInTransactionSessionTimeout):
        holder.execute("select 1")
    holder.close()
    with migrated.app() as other, tenant(other, TENANT_A) as cur:
        cur.execute("update mapper.tenant_configs set retention_days = 30")
    # A statement that runs too long is cancelled.
    with migrated.app() as conn, pytest.raises(errors.QueryCanceled), tenant(conn, TENANT_A) as cur:
        cur.execute("select pg_sleep(30)")


@pytest.mark.parametrize("user", ["readonly_user", "auditor_user"])
@pytest.mark.parametrize(
    "mode", ["row share", "share update exclusive", "share", "exclusive", "access exclusive"]
)
def test_readers_cannot_take_strong_locks(two_tenants: Speaker, user: str, mode: str) -> None:
    table = "mapper.audit_records" if user == "auditor_user" else "mapper.storage_records"
    with (
        two_tenants.connect(user) as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute(f"lock table {table} in {mode} mode")


def test_no_shared_sequence_behind_tenant_rows(two_tenants: Speaker) -> None:
    with two_tenants.superuser() as conn:
        shared = conn.execute(
            "select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "where c.relnamespace = 'mapper'::regnamespace and a.attnum > 0 "
            "and (a.attidentity <> '' or pg_get_expr("
            "    (select d.adbin from pg_attrdef d where d.adrelid = c.oid and d.adnum = a.attnum),"
            "    c.oid) like 'nextval%%') "
            "and exists (select from pg_attribute t where t.attrelid = c.oid "
            "    and t.attname = 'tenant_id')"
        ).fetchall()
    assert shared == []


def test_ids_are_time_ordered_uuids_that_reveal_no_volume(two_tenants: Speaker) -> None:
    before = datetime.now(UTC)
    with two_tenants.app() as conn:
        with tenant(conn, TENANT_A) as cur:
            add_rows(cur, TENANT_A, 1)
        with tenant(conn, TENANT_B) as cur:
            add_rows(cur, TENANT_B, 200)
        with tenant(conn, TENANT_A) as cur:
            add_rows(cur, TENANT_A, 1)
            ids = [
                r[0]
                for r in cur.execute(
                    "select id from mapper.storage_records order by created_at, id"
                ).fetchall()
            ]
            generated = [
                r[0]
                for r in cur.execute(
                    "select mapper.uuid_v7() from generate_series(1, 2000)"
                ).fetchall()
            ]
    after = datetime.now(UTC)
    assert all(isinstance(i, uuid.UUID) and i.version == 7 for i in ids + generated)
    for i in ids[-2:]:
        millis = int.from_bytes(i.bytes[:6], "big")
        assert before.timestamp() * 1000 - 1000 <= millis <= after.timestamp() * 1000 + 1000
    # Index locality: the time prefix never goes back in generation order.
    prefixes = [i.bytes[:6] for i in generated]
    assert prefixes == sorted(prefixes)
    # 200 rows of tenant B in between: nothing in A's two ids counts them.
    assert len(set(generated)) == 2000


def test_what_catalog_statistics_show_an_app_session(two_tenants: Speaker) -> None:
    """Column statistics (most common tenant ids, values) are hidden where RLS applies; table
    sizes and counters are not: they show all tenants' volume together (docs/schema.md)."""
    with two_tenants.admin() as conn:
        conn.execute("analyze")
        conn.commit()
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        stats = cur.execute("select count(*) from pg_stats where schemaname = 'mapper'").fetchone()
        reltuples = cur.execute(
            "select sum(reltuples) from pg_class where relnamespace = 'mapper'::regnamespace "
            "and relkind = 'r' and relname like 'storage_records_p%%'"
        ).fetchone()
    assert stats == (0,)
    assert reltuples is not None and reltuples[0] == 6  # both tenants' rows, together


TENANT_TABLES = ("tenant_configs", "storage_records", "detector_executions", "model_metrics")
STRONG_MODES = ("row share", "share update exclusive", "share", "share row exclusive", "exclusive")


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_app_cannot_lock_above_row_exclusive(two_tenants: Speaker, table: str) -> None:
    """Table-level UPDATE or DELETE would let an app session LOCK any mode; it has neither."""
    with two_tenants.app() as conn:
        for mode in (*STRONG_MODES, "access exclusive"):
            with pytest.raises(errors.InsufficientPrivilege), tenant(conn, TENANT_A) as cur:
                cur.execute(f"lock table mapper.{table} in {mode} mode")
        with tenant(conn, TENANT_A) as cur:
            cur.execute(f"lock table mapper.{table} in row exclusive mode")
            # What its work needs still works: updates, row locks, deletes by function.
            cur.execute(f"select tenant_id from mapper.{table} for update")
            cur.execute(f"update mapper.{table} set tenant_id = tenant_id")
            assert cur.rowcount >= 1


def test_app_deletes_through_the_audited_functions_only(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn:
        with tenant(conn, TENANT_A) as cur:
            ids = [r[0] for r in cur.execute("select id from mapper.model_metrics").fetchall()]
            assert cur.execute(
                "select mapper.delete_rows('model_metrics', %s)", (ids[:2],)
            ).fetchone() == (2,)
            last = cur.execute(
                "select 1 from mapper.model_metrics where id = any(%s)", (ids[:2],)
            ).fetchall()
            assert last == []
        with pytest.raises(errors.InvalidParameterValue), tenant(conn, TENANT_A) as cur:
            cur.execute("select mapper.delete_rows('audit_records', '{}')")
        with pytest.raises(errors.ForeignKeyViolation), tenant(conn, TENANT_A) as cur:
            cur.execute("select mapper.delete_tenant()")
    with two_tenants.auditor() as conn, tenant(conn, TENANT_A) as cur:
        link = cur.execute(
            "select action, table_name, entries, db_user from mapper.audit_records "
            "order by chain_seq desc limit 1"
        ).fetchone()
        assert cur.execute("select count(*) from mapper.verify_audit_chain()").fetchone() == (0,)
    assert link == ("delete", "model_metrics", 2, "app_user")


def test_a_login_lifting_its_own_limits_is_reported(speak: Speaker) -> None:
    """A login may `alter role <itself> set statement_timeout = 0` (PostgreSQL cannot forbid
    it); the alert hook names it."""
    login = "self_lifting_app"
    with speak.admin() as conn:
        conn.autocommit = True
        conn.execute(f"create role {login} login in role mapper_app")
    try:
        with psycopg.connect(speak.db.conninfo(login), autocommit=True) as conn:
            conn.execute(
                f"alter role {login} in database {speak.db.name} set statement_timeout = 0"
            )
        with speak.admin() as conn:
            conn.execute("set local role mapper_maintainer")
            found = conn.execute(
                "select source, target, detail from mapper.maintenance_problems()"
                " where source = 'role_setting'"
            ).fetchall()
        assert found == [("role_setting", login, "statement_timeout=0")]
    finally:
        with speak.admin() as conn:
            conn.autocommit = True
            conn.execute(f"drop role {login}")
