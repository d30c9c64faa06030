"""A pooled connection carries nothing from one tenant's transaction into the next: two
tenants through a pool of ONE connection, after normal work, errors, a WITH HOLD cursor, a
session-level SET ROLE and SET, a temporary table, LISTEN and an advisory lock.

A clean transaction is not reset when it commits: the next one begins with ``close all`` and
``mapper.enter_tenant()`` (migration 0028), which refuses a session carrying a tenant, actor,
role or temporary object (MT001); the client then discards the session's state and enters
again. ``Database.dirty_sessions`` counts those refusals, so each test below shows which path
cleaned the session."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from mapperdb.client import Database
from mapperdb.client.database import prepare_threshold_for
from mapperdb.client.errors import SessionNotClean
from tests.client.conftest import APP_USER, TENANT_A, TENANT_B, App, superuser

STATE = """
select pg_backend_pid(), current_setting('app.tenant_id', true), current_user::text,
    (select count(*) from pg_cursors),
    (select count(*) from pg_class where relnamespace = pg_my_temp_schema()),
    (select count(*) from pg_listening_channels()),
    (select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()),
    (select count(*) from pg_prepared_statements where from_sql),
    (select count(*) from pg_settings where source = 'session'
        and name not in ('application_name', 'client_encoding', 'DateStyle', 'TimeZone',
                         'IntervalStyle', 'extra_float_digits',
                         -- set by this transaction's own BEGIN, which names both every time
                         'transaction_isolation', 'transaction_read_only'))
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


@pytest.mark.parametrize(
    "default",
    [
        "set session characteristics as transaction read only",
        "set session characteristics as transaction isolation level serializable",
        "set default_transaction_read_only = on",
        "set default_transaction_isolation = 'repeatable read'",
    ],
)
def test_session_transaction_defaults_do_not_decide_the_next_transaction(
    one: Database, default: str
) -> None:
    """Every BEGIN says its isolation and access mode: a default one transaction left behind is
    not how the next tenant's transaction runs."""
    with one.tenant(TENANT_A) as conn:
        conn.execute(default)
    with one.tenant(TENANT_B) as conn:
        row = conn.execute(
            "select current_setting('transaction_isolation'),"
            " current_setting('transaction_read_only')"
        ).fetchone()
        assert row == ("read committed", "off")
        conn.execute("update mapper.tenant_configs set name = name")  # writes work
    with one.tenant(TENANT_B, True) as conn:
        assert conn.execute("show transaction_read_only").fetchone() == ("on",)


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
    """Past psycopg's prepare threshold the tenants' query runs as a server-side prepared
    statement, which survives from one transaction (and tenant) to the next: row-level
    security reads the tenant at execution, so the same plan serves both."""
    query = "select tenant_id from mapper.tenant_configs"
    for n in range(20):
        tenant = (TENANT_A, TENANT_B)[n % 2]
        with one.tenant(tenant) as conn:
            row = conn.execute(query).fetchone()
        assert row == (tenant,)
    with one.tenant(TENANT_A) as conn:
        prepared = conn.execute(
            "select statement from pg_prepared_statements where not from_sql"
        ).fetchall()
    assert (query,) in prepared
    assert one.dirty_sessions == 0


def test_prepared_statements_can_be_turned_off(app: App) -> None:
    with Database(app.conninfo, pool_min=1, pool_max=1, prepare_threshold=None) as db:
        for _ in range(10):
            with db.tenant(TENANT_A) as conn:
                conn.execute("select tenant_id from mapper.tenant_configs").fetchone()
        with db.tenant(TENANT_A) as conn:
            row = conn.execute("select count(*) from pg_prepared_statements").fetchone()
    assert row == (0,)


def test_prepared_statements_default_off_on_pgbouncer_port() -> None:
    """Azure's PgBouncer (port 6432) keeps no prepared statement by default."""
    assert prepare_threshold_for("host=h port=6432 dbname=mapper", "auto") is None
    assert prepare_threshold_for("host=h,h2 port=5432,6432 dbname=mapper", "auto") is None
    assert prepare_threshold_for("host=h dbname=mapper", "auto") == 5
    assert prepare_threshold_for("host=h port=5432 dbname=mapper", "auto") == 5
    assert prepare_threshold_for("host=h port=6432 dbname=mapper", 3) == 3
    assert prepare_threshold_for("host=h dbname=mapper", None) is None


# Session state that survives a COMMIT, each alone, and what must show that it was cleaned:
# (what to run in tenant A's transaction, refused by enter_tenant() (MT001) or not).
SESSION_LEFTOVERS = {
    "set-tenant": ("set app.tenant_id = 'bbbbbbbb-0000-4000-8000-0000000000c2'", True),
    "set-actor": ("set app.actor = 'someone else'", True),
    "set-role": ("set role mapper_app", True),
    "temp-table": ("create temporary table scratch (x int) on commit preserve rows", True),
    "temp-view": ("create temporary view scratch_v as select 1 as one", True),
    "temp-function": (
        "create function pg_temp.scratch_f() returns int language sql as 'select 1'",
        True,
    ),
    # Closed by the next transaction's first round trip (close all), not refused.
    "with-hold-cursor": (
        "declare leftover cursor with hold for select tenant_id from mapper.tenant_configs",
        False,
    ),
}


@pytest.mark.parametrize("leftover", list(SESSION_LEFTOVERS))
def test_each_leftover_is_detected_or_closed(one: Database, leftover: str) -> None:
    statement, refused = SESSION_LEFTOVERS[leftover]
    first = _state(one, TENANT_A)
    with one.tenant(TENANT_A) as conn:
        conn.execute(statement)
    second = _state(one, TENANT_B)
    assert second[0] == first[0], "the same pooled connection served both tenants"
    _clean(second, TENANT_B)
    assert one.dirty_sessions == (1 if refused else 0)
    with pytest.raises(psycopg.errors.InvalidCursorName), one.tenant(TENANT_B) as conn:
        conn.execute("fetch all from leftover")
    assert one.dirty_sessions == (1 if refused else 0), "one reset was enough"


def test_an_emptied_temporary_schema_is_not_dirty(one: Database) -> None:
    """A session whose temporary objects were dropped keeps its (empty) temporary schema:
    enter_tenant() looks inside it rather than refusing the session for good."""
    with one.tenant(TENANT_A) as conn:
        conn.execute("create temporary table scratch (x int)")
        conn.execute("drop table scratch")
    for tenant in (TENANT_B, TENANT_A):
        _clean(_state(one, tenant), tenant)
    assert one.dirty_sessions == 0


def test_state_left_by_a_caller_that_committed_inside_the_block(one: Database) -> None:
    """A block that commits on its own ends in an error, and its connection is discarded
    (rolled back and ``discard all``) before it goes back to the pool."""
    ended = pytest.raises(psycopg.ProgrammingError, match=r"inside db\.tenant")
    with ended, one.tenant(TENANT_A) as conn:
        conn.execute("create temporary table scratch (x int) on commit preserve rows")
        conn.execute("set role mapper_app")
        conn.execute("commit")
    _clean(_state(one, TENANT_B), TENANT_B)
    assert one.dirty_sessions == 0, "cleaned on return, not on the next transaction"


@pytest.fixture
def defaulted_login(app: App) -> Iterator[str]:
    """A login of mapper_app whose every session starts with a tenant (an operator's
    ``ALTER ROLE ... SET app.tenant_id``: only a superuser may set a placeholder there)."""
    name = sql.Identifier("client_defaulted")
    with superuser(app.db) as admin:
        admin.execute(sql.SQL("drop role if exists {}").format(name))
        admin.execute(sql.SQL("create role {} login in role mapper_app").format(name))
        admin.execute(
            sql.SQL("alter role {} set app.tenant_id = {}").format(name, sql.Literal(str(TENANT_B)))
        )
    try:
        yield app.db.conninfo("client_defaulted")
    finally:
        with superuser(app.db) as admin:
            admin.execute(sql.SQL("drop role {}").format(name))


def test_a_login_default_tenant_is_refused(defaulted_login: str) -> None:
    with Database(defaulted_login, pool_min=1, pool_max=1) as db:
        with pytest.raises(SessionNotClean, match="ALTER ROLE") as caught, db.tenant(TENANT_A):
            pass
        assert "\n" not in str(caught.value)
        assert db.dirty_sessions == 1


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
