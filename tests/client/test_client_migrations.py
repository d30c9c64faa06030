"""Migrations 0018 (tenant data keys), 0019 (cache invalidation NOTIFY), 0028 (checked tenant
context) and 0029 (NOTIFY digests): each down restores the catalog its up found, whatever
version precedes it on the branch being tested."""

from __future__ import annotations

import psycopg
import pytest

from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.conftest import MIGRATIONS, Database
from tests.schema.test_migrations import catalog_dump


@pytest.mark.parametrize("version", [18, 19, 28, 29])
def test_down_reverses_up(pg: EphemeralPostgres, template_db: str, version: int) -> None:
    name = f"t_client_{version}"
    pg.create_database(name)
    try:
        runner = Runner(Connector(pg.admin_conninfo(name)), MIGRATIONS)
        previous = max(m.version for m in runner.migrations() if m.version < version)
        runner.up(previous)
        before = catalog_dump(pg, name)
        runner.up(version)
        assert catalog_dump(pg, name) != before
        runner.down(previous)
        assert catalog_dump(pg, name) == before
    finally:
        pg.drop_database(name)


def test_the_checked_tenant_context_is_for_the_application_roles(db: Database) -> None:
    """0028's functions: executable by mapper_app and mapper_readonly (and their owner) only,
    and security invoker (enter_tenant() compares current_user with session_user)."""
    with psycopg.connect(db.superuser_conninfo) as conn:
        rows = conn.execute(
            "select p.oid::regprocedure::text, p.prosecdef, array_agg(distinct"
            " a.grantee::regrole::text order by a.grantee::regrole::text)"
            " from pg_proc as p, aclexplode(p.proacl) as a"
            " where p.oid in ('mapper.enter_tenant(uuid, text)'::regprocedure,"
            " 'mapper.refuse_dirty_session()'::regprocedure,"
            " 'mapper.session_has_temp_objects()'::regprocedure)"
            " group by p.oid, p.prosecdef order by 1"
        ).fetchall()
    roles = ["mapper_app", "mapper_owner", "mapper_readonly"]
    assert rows == [
        ("mapper.enter_tenant(uuid,text)", False, roles),
        ("mapper.refuse_dirty_session()", False, roles),
        ("mapper.session_has_temp_objects()", False, roles),
    ]
