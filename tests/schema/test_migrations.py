"""Every up has a true down (catalog dumps compare equal), and the pg_cron jobs are scheduled
in the cron database only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mapperdb.db import Connector
from mapperdb.migrate.history import SCHEMA as HISTORY_SCHEMA
from mapperdb.migrate.runner import Runner
from mapperdb.pg.ephemeral import EphemeralPostgres
from mapperdb.platform import CRON_DATABASE

MIGRATIONS = Path(__file__).resolve().parents[2] / "sql" / "migrations"
JOBS = ["mapper_maintain_partitions", "mapper_purge_expired", "mapper_refresh_daily_aggregates"]


def catalog_dump(pg: EphemeralPostgres, dbname: str) -> str:
    """The schema as pg_dump sees it (objects, owners, grants, policies), without the history."""
    assert pg.install is not None
    result = subprocess.run(
        [
            str(pg.install.tool("pg_dump")),
            "--schema-only",
            f"--exclude-schema={HISTORY_SCHEMA}",
            "--dbname",
            pg.superuser_conninfo(dbname),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    with psycopg.connect(pg.superuser_conninfo(dbname)) as conn:
        # Database-level privileges (0001 grants CREATE to mapper_owner), defaults made explicit.
        acl = conn.execute(
            "select array(select a::text from unnest(coalesce(datacl, acldefault('d', datdba)))"
            " as a order by 1) from pg_database where datname = current_database()"
        ).fetchone()
        # Settings of the database and of roles in it (0012's session limits).
        settings = conn.execute(
            "select coalesce(setrole::regrole::text, '*'), setconfig from pg_db_role_setting "
            "where setdatabase = (select oid from pg_database where datname = current_database())"
            " order by 1"
        ).fetchall()
    lines = [
        line for line in result.stdout.splitlines() if not re.match(r"^--|^\\(un)?restrict", line)
    ]
    return "\n".join([*lines, f"database acl: {acl}", f"database settings: {settings}"])


def role_attributes(pg: EphemeralPostgres) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg.superuser_conninfo()) as conn:
        return conn.execute(
            "select r.rolname, r.rolsuper, r.rolinherit, r.rolcanlogin, r.rolbypassrls, "
            "array(select m.roleid::regrole::text from pg_auth_members m "
            "where m.member = r.oid order by 1) from pg_roles r "
            "where r.rolname like 'mapper\\_%' order by 1"
        ).fetchall()


def test_up_down_up_gives_an_identical_catalog(pg: EphemeralPostgres, template_db: str) -> None:
    name = "t_updownup"
    pg.create_database(name)
    try:
        empty = catalog_dump(pg, name)
        runner = Runner(Connector(pg.admin_conninfo(name)), MIGRATIONS)
        applied = runner.up()
        assert len(applied) == len(list(MIGRATIONS.glob("*.up.sql")))
        first = catalog_dump(pg, name)
        roles = role_attributes(pg)
        assert "create policy storage_records_app_select" in first.lower()
        assert len(runner.down(0)) == len(applied)
        assert catalog_dump(pg, name) == empty
        runner.up()
        assert catalog_dump(pg, name) == first
        assert role_attributes(pg) == roles
    finally:
        pg.drop_database(name)


def test_each_down_reverses_its_up(pg: EphemeralPostgres, template_db: str) -> None:
    """Step by step: after up to N then down to N-1, the catalog is the one of N-1."""
    name = "t_stepwise"
    pg.create_database(name)
    try:
        runner = Runner(Connector(pg.admin_conninfo(name)), MIGRATIONS)
        migrations = sorted((m.version, m.name) for m in runner.migrations())
        previous = catalog_dump(pg, name)
        # Versions need not be consecutive: down steps to the one before.
        befores = [0] + [v for v, _ in migrations[:-1]]
        for (version, slug), before in zip(migrations, befores, strict=True):
            runner.up(version)
            after = catalog_dump(pg, name)
            if slug != "scheduling":  # acts in the cron database only (next test)
                assert after != previous, f"migration {version} changed nothing"
            runner.down(before)
            assert catalog_dump(pg, name) == previous, f"down of {version} is not its inverse"
            runner.up(version)
            previous = after
    finally:
        pg.drop_database(name)


def test_jobs_are_scheduled_in_the_cron_database_only(
    pg: EphemeralPostgres, template_db: str
) -> None:
    with psycopg.connect(pg.superuser_conninfo(template_db)) as conn:
        assert conn.execute(
            "select count(*) from pg_extension where extname = 'pg_cron'"
        ).fetchone() == (0,)
    runner = Runner(Connector(pg.admin_conninfo(CRON_DATABASE)), MIGRATIONS)
    runner.up()
    try:
        with psycopg.connect(pg.admin_conninfo(CRON_DATABASE)) as conn:
            jobs = conn.execute(
                "select jobname, username, command from cron.job order by jobname"
            ).fetchall()
            assert [j[0] for j in jobs] == JOBS
            assert {j[1] for j in jobs} == {"mapperadmin"}
            # What the jobs run works as the job's user, in this database.
            for _, _, command in jobs:
                conn.execute(command)
        runner.down(10)
        with psycopg.connect(pg.admin_conninfo(CRON_DATABASE)) as conn:
            assert conn.execute(
                "select count(*) from pg_extension where extname = 'pg_cron'"
            ).fetchone() == (0,)
        runner.up()
        with psycopg.connect(pg.admin_conninfo(CRON_DATABASE)) as conn:
            assert conn.execute("select count(*) from cron.job").fetchone() == (len(JOBS),)
    finally:
        runner.down(0)


@pytest.mark.parametrize("path", sorted(MIGRATIONS.glob("*.sql")), ids=lambda p: p.name)
def test_every_migration_says_why(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("-- ") and len(first) > 20
