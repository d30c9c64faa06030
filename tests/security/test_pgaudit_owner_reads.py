"""The admin's way to every tenant's rows (set role mapper_owner, then the maintenance flag)
leaves a pgaudit line, with pgaudit.log as the platform sets it on every environment's servers;
the application's per-transaction tenant context (set_config(), a SELECT) adds none.

Read from the real server log of the ephemeral PostgreSQL (Debian's 15, with the real pgaudit
preloaded; the npm builds of the version matrix carry a stand-in that logs nothing)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mapper_infra.config import load_environments
from mapperdb.client import Database
from tests.conftest import REPO
from tests.schema.schema_helpers import TENANT_A, Speaker, tenant

ENVIRONMENTS = REPO / "infra" / "environments"


def platform_pgaudit_log() -> str:
    """pgaudit.log of every environment's primary (they must agree)."""
    values = {
        p.value
        for env in load_environments(ENVIRONMENTS)
        for p in env.parameters()
        if p.name == "pgaudit.log"
    }
    assert len(values) == 1, values
    return values.pop()


class ServerLog:
    """The lines the server wrote for one database since :meth:`mark`."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def audit_lines(self, user: str) -> list[str]:
        time.sleep(0.2)  # the server's stderr is a file: written before the reply, read after
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        prefix = re.compile(rf"\[\d+\] {re.escape(user)}@{re.escape(self.database)} LOG:  AUDIT: ")
        return [line for line in text.splitlines() if prefix.search(line)]


@pytest.fixture
def server_log(two_tenants: Speaker) -> Iterator[ServerLog]:
    pg = two_tenants.db.pg
    if pg.install is None or pg.root is None or "pgaudit" in pg.install.emulated:
        pytest.fail(
            "these tests need the real pgaudit: run them on Debian's PostgreSQL 15 with "
            "postgresql-15-pgaudit installed (apt-get install postgresql-15-pgaudit)",
            pytrace=False,
        )
    with psycopg.connect(two_tenants.db.superuser_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("alter database {} set pgaudit.log = {}").format(
                sql.Identifier(two_tenants.db.name), sql.Literal(platform_pgaudit_log())
            )
        )
    log = ServerLog(pg.root / "postgres.log", two_tenants.db.name)
    log.mark()
    yield log


def test_the_admin_becoming_the_owner_leaves_a_line(
    two_tenants: Speaker, server_log: ServerLog
) -> None:
    with two_tenants.admin() as conn:
        conn.execute("set local role mapper_owner")
        conn.execute("select set_config('mapper.maintenance', 'on', true)")
        rows = conn.execute("select count(*) from mapper.storage_records").fetchone()
        conn.rollback()
        conn.execute("set role mapper_owner")
        conn.execute("set local mapper.maintenance = on")
        conn.execute("select count(*) from mapper.tenant_configs")
        conn.rollback()
    assert rows == (6,)  # the read this is about: every tenant's rows
    lines = server_log.audit_lines("mapperadmin")
    assert any("SET,,,set local role mapper_owner" in line for line in lines), lines
    assert any("SET,,,set role mapper_owner" in line for line in lines), lines
    assert any("SET,,,set local mapper.maintenance = on" in line for line in lines), lines


def test_the_owner_by_tenant_context_is_logged_too(
    two_tenants: Speaker, server_log: ServerLog
) -> None:
    """The owner's other read path (its policies keyed on the tenant context) starts with the
    same set role."""
    with two_tenants.admin() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("set local role mapper_owner")
        assert cur.execute("select count(*) from mapper.storage_records").fetchone() == (3,)
    assert any(
        "SET,,,set local role mapper_owner" in line
        for line in server_log.audit_lines("mapperadmin")
    )


def test_the_apps_tenant_context_adds_no_line(two_tenants: Speaker, server_log: ServerLog) -> None:
    """set_config() is a SELECT (pgaudit's read class, off): a tenant transaction that reads
    writes nothing to the audit log, as before misc_set."""
    for _ in range(3):
        with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
            cur.execute("select set_config('app.actor', 'alice@example.com', true)")
            cur.execute("select count(*) from mapper.storage_records")
    with two_tenants.readonly() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("select count(*) from mapper.storage_records")
    assert server_log.audit_lines("app_user") == []
    assert server_log.audit_lines("readonly_user") == []


def test_writes_and_ddl_stay_logged(two_tenants: Speaker, server_log: ServerLog) -> None:
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("update mapper.storage_records set backup_status = 'backed_up'")
    with two_tenants.admin() as conn:
        conn.execute("set local role mapper_owner")
        conn.execute("comment on table mapper.storage_records is 'changed'")
        conn.rollback()
    assert any(",WRITE,UPDATE," in line for line in server_log.audit_lines("app_user"))
    assert any(",DDL,COMMENT," in line for line in server_log.audit_lines("mapperadmin"))


def test_a_tenant_transaction_through_the_client_stays_within_two_lines(
    two_tenants: Speaker, server_log: ServerLog
) -> None:
    """mapperdb.client ends each transaction with the pool's reset (``set session authorization
    default; reset all; ...`` sent with the COMMIT): two misc_set lines per transaction, and
    never the tenant context itself. This bounds what misc_set adds to the application's log."""
    with Database(two_tenants.db.conninfo("app_user"), pool_min=0, pool_max=1) as db:
        for _ in range(3):
            with db.tenant(TENANT_A, actor="alice@example.com") as conn:
                conn.execute("select count(*) from mapper.storage_records")
    lines = server_log.audit_lines("app_user")
    assert len(lines) <= 2 * 3, lines
    assert not [line for line in lines if "set_config" in line or str(TENANT_A) in line]
