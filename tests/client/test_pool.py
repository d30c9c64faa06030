"""A pooled connection carries nothing from one tenant's transaction into the next: two
tenants through a pool of ONE connection, after normal work, errors, a WITH HOLD cursor, a
session-level SET ROLE and SET, a temporary table, LISTEN and an advisory lock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from mapperdb.client import Database
from tests.client.conftest import APP_USER, TENANT_A, TENANT_B, App

STATE = """
select pg_backend_pid(), current_setting('app.tenant_id', true), current_user::text,
    (select count(*) from pg_cursors),
    (select count(*) from pg_class where relnamespace = pg_my_temp_schema()),
    (select count(*) from pg_listening_channels()),
    (select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()),
    (select count(*) from pg_prepared_statements where from_sql),
    (select count(*) from pg_settings where source = 'session'
        and name not in ('application_name', 'client_encoding', 'DateStyle', 'TimeZone',
                         'IntervalStyle', 'extra_float_digits'))
"""


@pytest.fixture
def one(app: App) -> Iterator[Database]:
    with Database(app.conninfo, pool_min=1, pool_max=1) as db:
        yield db


def _state(db: Database, tenant: Any) -> tuple[Any, ...]:
    with db.tenant(tenant) as conn:
        row = conn.execute(STATE).fetchone()
        visible = conn.execute("select tenant_id from mapper.tenant_configs").fetchall()
    assert row is not None
    assert visible == [(tenant,)], "the tenant in context sees exactly its own configuration"
    return row


def _clean(row: tuple[Any, ...], tenant: Any) -> None:
    _, tenant_seen, user, cursors, temps, listening, locks, prepared, settings = row
    assert tenant_seen == str(tenant)
    assert user == APP_USER
    assert (cursors, temps, listening, locks, prepared, settings) == (0, 0, 0, 0, 0, 0)


def _leave_dirty_hold_cursor(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "declare leftover cursor with hold for select tenant_id from mapper.tenant_configs"
    )


def _leave_dirty_session(conn: psycopg.Connection[Any]) -> None:
    # Session level, not SET LOCAL: all of it survives the commit.
    conn.execute("create temporary table scratch (x int) on commit preserve rows")
    conn.execute("listen mapper_leak")
    conn.execute("select pg_advisory_lock(42)")
    conn.execute("prepare leftover_plan as select 1")
    conn.execute("set work_mem = '1MB'")
    conn.execute("set app.tenant_id = 'bbbbbbbb-0000-4000-8000-0000000000c2'")
    conn.execute("set role mapper_app")


def _fail_in_transaction(conn: psycopg.Connection[Any]) -> None:
    _leave_dirty_session(conn)
    conn.execute("select 1 / 0")


def _fail_after_hold_cursor(conn: psycopg.Connection[Any]) -> None:
    _leave_dirty_hold_cursor(conn)
    conn.execute("select nonexistent_column from mapper.tenant_configs")


@pytest.mark.parametrize(
    ("dirty", "fails"),
    [
        (_leave_dirty_hold_cursor, False),
        (_leave_dirty_session, False),
        (_fail_in_transaction, True),
        (_fail_after_hold_cursor, True),
    ],
    ids=["with-hold-cursor", "session-state", "error-after-session-state", "error-after-cursor"],
)
def test_two_tenants_through_one_connection(
    one: Database, dirty: Callable[[psycopg.Connection[Any]], None], fails: bool
) -> None:
    first = _state(one, TENANT_A)
    _clean(first, TENANT_A)
    if fails:
        with pytest.raises(psycopg.Error), one.tenant(TENANT_A) as conn:
            dirty(conn)
    else:
        with one.tenant(TENANT_A) as conn:
            dirty(conn)
    second = _state(one, TENANT_B)
    assert second[0] == first[0], "the same pooled connection served both tenants"
    _clean(second, TENANT_B)
    with one.tenant(TENANT_A) as conn:
        row = conn.execute(STATE).fetchone()
    assert row is not None and row[0] == first[0]
    _clean(row, TENANT_A)


def test_no_tenant_outside_a_transaction(one: Database, app: App) -> None:
    with one.tenant(TENANT_A) as conn:
        pid = conn.execute("select pg_backend_pid()").fetchone()
    with one._primary.pool.connection() as conn:  # what the pool holds between transactions
        row = conn.execute(
            "select pg_backend_pid(), current_setting('app.tenant_id', true), "
            "(select count(*) from mapper.tenant_configs)"
        ).fetchone()
    assert row is not None and pid is not None
    assert row[0] == pid[0]
    assert row[1] in (None, "")
    assert row[2] == 0, "no tenant set: no rows visible"


def test_readonly_transaction_refuses_writes(one: Database) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), one.tenant(TENANT_A, True) as conn:
        conn.execute("update mapper.tenant_configs set name = 'x'")


def test_tenant_id_is_validated(one: Database) -> None:
    with pytest.raises(ValueError), one.tenant("not-a-uuid"):
        pass


def test_rollback_on_exception_and_commit_on_success(one: Database) -> None:
    with pytest.raises(RuntimeError), one.tenant(TENANT_A) as conn:
        conn.execute("update mapper.tenant_configs set name = 'rolled back'")
        raise RuntimeError("boom")
    with one.tenant(TENANT_A) as conn:
        conn.execute("update mapper.tenant_configs set name = 'committed'")
    with one.tenant(TENANT_A, readonly=True, actor="alice@example.com") as conn:
        name = conn.execute("select name from mapper.tenant_configs").fetchone()
        actor = conn.execute("select current_setting('app.actor')").fetchone()
    assert name == ("committed",)
    assert actor == ("alice@example.com",)


def test_many_transactions_on_one_connection(one: Database) -> None:
    """Past psycopg's prepare threshold: nothing depends on statements the reset dropped."""
    for n in range(20):
        tenant = (TENANT_A, TENANT_B)[n % 2]
        with one.tenant(tenant) as conn:
            row = conn.execute("select tenant_id from mapper.tenant_configs").fetchone()
        assert row == (tenant,)


def test_check_reports_an_unreachable_primary(app: App) -> None:
    dead = app.db.conninfo(app.user) + " port=1"
    with Database(dead, pool_min=0, pool_max=1, replica_timeout_s=0.2) as db:
        health = db.check()
    assert not health.ok and not health.primary.reachable
    assert health.primary.error and "\n" not in health.primary.error
    assert health.replica is None and not health.replica_usable
    assert json.loads(json.dumps(health.as_dict()))["primary"]["reachable"] is False


def test_check_reports_a_reachable_primary(one: Database) -> None:
    health = one.check()
    assert health.ok and health.primary.in_recovery is False and health.primary.lag_s == 0
