"""Fixtures of the analyzer tests: a database with pg_stat_statements, tenant rows written as
the app, and the analyzer's own login (pg_monitor and mapper_readonly, never a superuser)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from mapperdb.analyze.model import Thresholds
from mapperdb.analyze.run import Report, analyze
from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.conftest import Database
from tests.schema.schema_helpers import (
    KEY_VERSION,
    STORAGE_COLUMNS,
    TENANT_A,
    TENANT_B,
    add_tenant,
    logins,
    tenant,
)

__all__ = ["logins"]
ANALYZER = "analyzer_user"
# Every measurement threshold at zero: the tests decide what is slow or old, not the machine.
EAGER = Thresholds(
    slow_mean_ms=0.0,
    min_history=timedelta(0),
    idle_in_transaction=timedelta(0),
    blocked=timedelta(0),
)


@pytest.fixture(scope="session")
def analyzer_login(pg: EphemeralPostgres, logins: dict[str, str]) -> str:
    with psycopg.connect(pg.superuser_conninfo(), autocommit=True) as conn:
        if conn.execute("select from pg_roles where rolname = %s", (ANALYZER,)).fetchone() is None:
            conn.execute(
                sql.SQL("create role {} login in role pg_monitor, mapper_readonly").format(
                    sql.Identifier(ANALYZER)
                )
            )
    return ANALYZER


def write_rows(db: Database, tenant_id: Any, count: int) -> None:
    """``count`` storage records for a tenant, written as the app in one statement."""
    with psycopg.connect(db.conninfo("app_user")) as conn, tenant(conn, tenant_id) as cur:
        cur.execute(
            f"insert into mapper.storage_records ({STORAGE_COLUMNS}) "
            "select %s, now() - make_interval(secs => n), lpad(to_hex(n), 64, '0'), 'pii',"
            " array['PII.Contact.Email'], 0.5, 'v1.0.0', 'corr-' || n, 'westeurope',"
            " '\\x0102'::bytea, %s from generate_series(1, %s) n",
            (tenant_id, KEY_VERSION, count),
        )


@pytest.fixture
def busy(db: Database, analyzer_login: str) -> Database:
    """Two tenants with rows, hypopg installed (pg_stat_statements is a migration's), fresh
    statistics."""
    with psycopg.connect(db.admin_conninfo, autocommit=True) as conn:
        conn.execute("create extension hypopg")
    with psycopg.connect(db.conninfo("app_user")) as conn:
        add_tenant(conn, TENANT_A, "alpha")
        add_tenant(conn, TENANT_B, "bravo")
    write_rows(db, TENANT_A, 3000)
    write_rows(db, TENANT_B, 3000)
    with psycopg.connect(db.superuser_conninfo, autocommit=True) as conn:
        conn.execute("analyze")
        conn.execute("select pg_stat_statements_reset()")
    return db


def run_as_app(db: Database, statements: list[tuple[str, tuple[Any, ...]]], times: int = 5) -> None:
    with psycopg.connect(db.conninfo("app_user")) as conn:
        for _ in range(times):
            with tenant(conn, TENANT_A) as cur:
                for query, params in statements:
                    cur.execute(query, params).fetchall()


@pytest.fixture
def run_analyzer(analyzer_login: str) -> Callable[..., Report]:
    def run(db: Database, thresholds: Thresholds = EAGER) -> Report:
        with psycopg.connect(db.conninfo(analyzer_login), autocommit=True) as conn:
            return analyze(conn, thresholds=thresholds)

    return run


def by_rule(report: Report, rule: str) -> list[Any]:
    return [f for f in report.findings if f.rule == rule]


@pytest.fixture
def superuser(db: Database) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db.superuser_conninfo, autocommit=True) as conn:
        yield conn
