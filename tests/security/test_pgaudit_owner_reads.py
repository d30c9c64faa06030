"""Every read of tenant rows as mapper_owner by a login that can become the owner leaves a server
log line (0032, 0033: a term of every owner policy, mapper.note_owner_access()), however the
session became the owner; the application's reads and writes add none. pgaudit.log as the
platform sets it on every environment's servers.

The two ways the review found past pgaudit's misc_set (rev9): the role as a startup option, and
`select set_config('role', ...)` with a tenant context to read wrapped keys. Read from the real
server log of the ephemeral PostgreSQL (Debian's 15, with the real pgaudit preloaded; the npm
builds of the version matrix carry a stand-in that logs nothing)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from mapper_infra.config import load_environments
from mapperdb.client import Database
from tests.conftest import REPO
from tests.conftest import Database as MigratedDatabase
from tests.schema.schema_helpers import TENANT_A, TENANT_B, Speaker, tenant
from tests.security.test_data_keys_audit import add_key

ENVIRONMENTS = REPO / "infra" / "environments"
OWNER_READ = "mapper owner read: "


def platform_parameter(name: str) -> str | None:
    """A server parameter of every environment's primary (they must agree)."""
    values = {
        next((p.value for p in env.parameters() if p.name == name), None)
        for env in load_environments(ENVIRONMENTS)
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

    def lines(self, user: str, message: str) -> list[str]:
        time.sleep(0.2)  # the server's stderr is a file: written before the reply, read after
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        prefix = re.compile(
            rf"\[\d+\] {re.escape(user)}@{re.escape(self.database)} LOG:  {re.escape(message)}"
        )
        return [line for line in text.splitlines() if prefix.search(line)]

    def audit_lines(self, user: str) -> list[str]:
        return self.lines(user, "AUDIT: ")

    def owner_reads(self, user: str) -> list[str]:
        return self.lines(user, OWNER_READ)


@pytest.fixture
def server_log(two_tenants: Speaker) -> Iterator[ServerLog]:
    pg = two_tenants.db.pg
    if pg.install is None or pg.root is None or "pgaudit" in pg.install.emulated:
        pytest.fail(
            "these tests need the real pgaudit: run them on Debian's PostgreSQL 15 with "
            "postgresql-15-pgaudit installed (apt-get install postgresql-15-pgaudit)",
            pytrace=False,
        )
    pgaudit_log = platform_parameter("pgaudit.log")
    assert pgaudit_log is not None
    with two_tenants.app() as conn:
        add_key(conn, TENANT_A)
        add_key(conn, TENANT_B)
    with psycopg.connect(two_tenants.db.superuser_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("alter database {} set pgaudit.log = {}").format(
                sql.Identifier(two_tenants.db.name), sql.Literal(pgaudit_log)
            )
        )
    log = ServerLog(pg.root / "postgres.log", two_tenants.db.name)
    log.mark()
    yield log


def admin_as_owner_by_startup_option(speak: Speaker) -> psycopg.Connection[Any]:
    """rev9's first bypass: no SET statement at all."""
    return psycopg.connect(
        speak.db.admin_conninfo, options="-c role=mapper_owner -c mapper.maintenance=on"
    )


def tenant_tables(speak: Speaker) -> list[str]:
    """Every table of mapper with forced row-level security, partitions left out."""
    with speak.superuser() as conn:
        rows = conn.execute(
            "select c.oid::regclass::text from pg_class as c "
            "where c.relnamespace = 'mapper'::regnamespace and c.relforcerowsecurity "
            "and not c.relispartition order by 1"
        ).fetchall()
    return [name for (name,) in rows]


def test_the_owner_by_startup_option_is_logged(two_tenants: Speaker, server_log: ServerLog) -> None:
    with admin_as_owner_by_startup_option(two_tenants) as conn:
        assert conn.execute("select current_user").fetchone() == ("mapper_owner",)
        rows = conn.execute("select count(*) from mapper.storage_records").fetchone()
    assert rows == (6,)  # the read this is about: every tenant's rows
    (line,) = server_log.owner_reads("mapperadmin")
    assert (
        'table mapper.storage_records, login "mapperadmin", role "mapper_owner", '
        'tenant context "", maintenance "on"' in line
    )
    assert server_log.audit_lines("mapperadmin") == []  # what pgaudit alone showed


def test_wrapped_keys_read_by_set_config_are_logged(
    two_tenants: Speaker, server_log: ServerLog
) -> None:
    """rev9's second bypass: the role and the tenant context by set_config(), both SELECTs."""
    with two_tenants.admin() as conn:
        conn.execute("select set_config('role', 'mapper_owner', true)")
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
        keys = conn.execute(
            "select encode(wrapped_key, 'hex') from mapper.tenant_data_keys"
        ).fetchall()
        conn.rollback()
    assert len(keys) == 1
    (line,) = server_log.owner_reads("mapperadmin")
    assert 'table mapper.tenant_data_keys, login "mapperadmin", role "mapper_owner", ' in line
    assert f'tenant context "{TENANT_A}", maintenance ""' in line
    assert keys[0][0] not in line


@pytest.mark.parametrize("mode", ["maintenance", "tenant context"])
def test_every_tenant_table_read_as_the_owner_is_logged(
    two_tenants: Speaker, server_log: ServerLog, mode: str
) -> None:
    """Whenever the owner sees a row of a tenant table (found in the catalog), a line names it."""
    seen: dict[str, int] = {}
    for table in tenant_tables(two_tenants):
        with two_tenants.admin() as conn:
            conn.execute("set local role mapper_owner")
            if mode == "maintenance":
                conn.execute("set local mapper.maintenance = on")
            else:
                conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
            row = conn.execute(sql.SQL("select count(*) from {}").format(sql.SQL(table))).fetchone()
            assert row is not None
            seen[table] = row[0]
            conn.rollback()
    lines = server_log.owner_reads("mapperadmin")
    assert len([n for n in seen.values() if n]) >= 5, seen
    for table, rows in seen.items():
        named = [line for line in lines if f"table {table}," in line]
        assert len(named) == (1 if rows else 0), (table, rows, named)


def test_a_partition_read_directly_is_logged(two_tenants: Speaker, server_log: ServerLog) -> None:
    """A partition's own policy (secure_partition, 0033) carries the same term."""
    with two_tenants.superuser() as conn:
        row = conn.execute(
            "select tableoid::regclass::text from mapper.storage_records limit 1"
        ).fetchone()
    assert row is not None
    (partition,) = row
    with admin_as_owner_by_startup_option(two_tenants) as conn:
        rows = conn.execute(sql.SQL("select count(*) from {}").format(sql.SQL(partition)))
        assert rows.fetchone() == (6,)
    (line,) = server_log.owner_reads("mapperadmin")
    assert f"table {partition}," in line


def test_the_application_adds_no_line(two_tenants: Speaker, server_log: ServerLog) -> None:
    """Reads, writes (their audit triggers read the chain head as the owner), deletes through
    delete_rows() and delete_tenant(), the auditor's audit_chain_heads_all(), the readonly role:
    the policies run as the owner for some of these, but the login cannot become the owner."""
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("select count(*) from mapper.storage_records")
        cur.execute("select count(*) from mapper.tenant_data_keys")
        cur.execute("update mapper.storage_records set backup_status = 'backed_up'")
        ids = [r[0] for r in cur.execute("select id from mapper.storage_records").fetchall()]
        cur.execute("select mapper.delete_rows('storage_records', %s)", (ids[:1],))
        assert cur.fetchone() == (1,)
    with two_tenants.readonly() as conn, tenant(conn, TENANT_B) as cur:
        cur.execute("select count(*) from mapper.storage_records")
    with two_tenants.auditor() as conn:
        assert len(conn.execute("select * from mapper.audit_chain_heads_all()").fetchall()) == 2
    for user in ("app_user", "readonly_user", "auditor_user"):
        assert server_log.owner_reads(user) == [], user


def test_the_apps_reads_and_tenant_context_add_no_audit_line(
    two_tenants: Speaker, server_log: ServerLog
) -> None:
    """set_config() is a SELECT (pgaudit's read class, off). `SET LOCAL app.tenant_id`, which the
    contract allows too, is a SET: with misc_set in pgaudit.log it would be one line per
    transaction; the platform leaves misc_set out (docs/schema.md, "Threat model")."""
    with Database(two_tenants.db.conninfo("app_user"), pool_min=0, pool_max=1) as db:
        for _ in range(3):
            with db.tenant(TENANT_A, actor="alice@example.com") as conn:
                conn.execute("select count(*) from mapper.storage_records")
    with two_tenants.app() as conn:
        conn.execute(sql.SQL("set local app.tenant_id = {}").format(sql.Literal(str(TENANT_A))))
        conn.execute("select count(*) from mapper.storage_records")
        conn.commit()
    with two_tenants.readonly() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("select count(*) from mapper.storage_records")
    assert server_log.audit_lines("app_user") == []
    assert server_log.audit_lines("readonly_user") == []


def test_writes_stay_logged(two_tenants: Speaker, server_log: ServerLog) -> None:
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("update mapper.storage_records set backup_status = 'backed_up'")
    assert any(",WRITE,UPDATE," in line for line in server_log.audit_lines("app_user"))


@pytest.mark.parametrize(
    ("statement", "audit"),
    [
        (
            "alter policy storage_records_maintenance_select on mapper.storage_records "
            "using ((select current_setting('mapper.maintenance', true)) = 'on')",
            ",DDL,ALTER POLICY,",
        ),
        (
            "drop policy storage_records_maintenance_select on mapper.storage_records",
            ",DDL,DROP POLICY,",
        ),
        (
            "create or replace function mapper.note_owner_access(p_table text) returns boolean "
            "language sql as 'select true'",
            ",DDL,CREATE FUNCTION,",
        ),
        ("alter table mapper.storage_records no force row level security", ",DDL,ALTER TABLE,"),
    ],
    ids=["alter policy", "drop policy", "replace function", "no force rls"],
)
def test_silencing_the_line_is_ddl_and_logged(
    two_tenants: Speaker, server_log: ServerLog, statement: str, audit: str
) -> None:
    """An owner that rewrites what logs its reads does DDL, which pgaudit's ddl class logs (a
    read that follows may then be silent: the DDL line is the one to alert on)."""
    with admin_as_owner_by_startup_option(two_tenants) as conn:
        conn.execute(statement)
        conn.rollback()
    assert any(audit in line for line in server_log.audit_lines("mapperadmin"))


@pytest.mark.parametrize(
    ("statement", "as_owner"),
    [
        ("set log_min_messages = fatal", False),
        ("set local log_min_messages = panic", True),
        ("select set_config('log_min_messages', 'fatal', true)", True),
        ("alter role current_user set log_min_messages = fatal", False),
        ("alter database {database} set log_min_messages = fatal", False),
        ("alter function mapper.note_owner_access(text) set log_min_messages = fatal", True),
        ("set pgaudit.log = 'none'", True),
    ],
)
def test_the_admin_cannot_raise_the_log_threshold(
    two_tenants: Speaker, statement: str, as_owner: bool
) -> None:
    """LOG lines are written unless log_min_messages is above LOG: a superuser setting, so
    neither the admin nor the owner can drop the line for its session, its login, the database
    or the function (nor pgaudit's lines)."""
    with two_tenants.admin() as conn:
        if as_owner:
            conn.execute("set local role mapper_owner")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL(statement).format(database=sql.Identifier(two_tenants.db.name)))


def test_the_admin_cannot_raise_the_log_threshold_at_startup(two_tenants: Speaker) -> None:
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(two_tenants.db.admin_conninfo, options="-c log_min_messages=fatal")


def test_the_owners_jobs_log_their_reads(two_tenants: Speaker, server_log: ServerLog) -> None:
    """pg_cron runs the owner's jobs as the migrating admin, so their reads are logged too: one
    line per statement that tests a row of a tenant table. With two tenants: purge_expired 10
    (its pgaudit WRITE lines: 6), refresh_daily_aggregates 2 (pgaudit: 16), maintain_partitions
    none while the default partitions are empty (pgaudit: 22)."""
    counts = {}
    for job in (
        "select count(*) from mapper.maintain_partitions()",
        "select count(*) from mapper.purge_expired()",
        "select mapper.refresh_daily_aggregates()",
    ):
        server_log.mark()
        with two_tenants.admin() as conn:
            conn.execute(job)
            conn.commit()
        counts[job.split("mapper.")[1].split("(")[0]] = len(server_log.owner_reads("mapperadmin"))
    assert counts == {"maintain_partitions": 0, "purge_expired": 10, "refresh_daily_aggregates": 2}


def test_the_platforms_pgaudit_settings() -> None:
    """ddl (policy and function changes that would silence the owner's line), role (a grant that
    would make a login the owner), write; no read (every application read), no misc_set (every
    SET LOCAL of a tenant context, and a role given at startup escaped it);
    never log_parameter (bound values: wrapped keys, tenant payloads)."""
    pgaudit_log = platform_parameter("pgaudit.log")
    assert pgaudit_log is not None
    assert set(pgaudit_log.split(",")) == {"ddl", "role", "write"}
    assert platform_parameter("pgaudit.log_parameter") == "off"
    # The owner's read lines are LOG level: written unless log_min_messages is fatal or panic.
    assert platform_parameter("log_min_messages") in {"warning", "error", "log"}


def test_a_partition_policy_without_the_line_is_a_problem_and_repaired(
    two_tenants: Speaker,
) -> None:
    """A partition whose policy lost the term (made by hand, or before 0033) is reported by
    partition_problems() and repaired by maintain_partitions()."""
    with two_tenants.superuser() as conn:
        (partition,) = conn.execute(
            "select tableoid::regclass::text from mapper.storage_records limit 1"
        ).fetchone() or ("",)
    with admin_as_owner_by_startup_option(two_tenants) as conn:
        conn.execute(
            sql.SQL(
                "alter policy partition_maintenance on {} "
                "using ((select current_setting('mapper.maintenance', true)) = 'on')"
            ).format(sql.SQL(partition))
        )
        conn.commit()
        problems = conn.execute("select * from mapper.partition_problems()").fetchall()
        assert problems == [
            ("mapper.storage_records", partition, "policy partition_maintenance differs")
        ]
        conn.execute("select count(*) from mapper.maintain_partitions()")
        conn.commit()
        assert conn.execute("select * from mapper.partition_problems()").fetchall() == []


def test_shredding_a_named_tenants_keys_is_logged(
    two_tenants: Speaker, server_log: ServerLog
) -> None:
    with two_tenants.admin() as conn:
        conn.execute("set local role mapper_owner")
        assert conn.execute("select mapper.shred_tenant_keys(%s)", (TENANT_B,)).fetchone() == (1,)
        conn.rollback()
    lines = server_log.owner_reads("mapperadmin")
    assert any('table mapper.tenant_data_keys, login "mapperadmin"' in line for line in lines)
    assert any(",WRITE,DELETE," in line for line in server_log.audit_lines("mapperadmin"))


def test_every_policy_that_lets_the_owner_see_a_row_logs(db: MigratedDatabase) -> None:
    """A catalog check, so a later migration that gives the owner a new way to see rows (a
    policy for it, for a role it has the rights of, or for public) without the term fails here:
    every such policy with a USING clause calls note_owner_access(), on tables and partitions."""
    with psycopg.connect(db.superuser_conninfo) as conn:
        rows = conn.execute(
            "select p.polrelid::regclass::text, p.polname, pg_get_expr(p.polqual, p.polrelid) "
            "from pg_policy as p join pg_class as c on c.oid = p.polrelid "
            "where c.relnamespace = 'mapper'::regnamespace and p.polqual is not null and exists ("
            "    select from unnest(p.polroles) as r (oid) "
            "    where r.oid = 0 or pg_has_role('mapper_owner', r.oid, 'USAGE'))"
        ).fetchall()
    assert len(rows) >= 21
    missing = [(table, name) for table, name, qual in rows if "note_owner_access(" not in qual]
    assert missing == []


def test_what_misc_set_would_add(two_tenants: Speaker, server_log: ServerLog) -> None:
    """Why misc_set stays out: with it, `SET LOCAL app.tenant_id` (allowed by the contract) is one
    MISC SET line per transaction; set_config() and mapperdb.client's transactions none."""
    with psycopg.connect(two_tenants.db.superuser_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("alter database {} set pgaudit.log = {}").format(
                sql.Identifier(two_tenants.db.name),
                sql.Literal(f"{platform_parameter('pgaudit.log')},misc_set"),
            )
        )
    server_log.mark()
    with two_tenants.app() as conn:
        for _ in range(3):
            conn.execute(sql.SQL("set local app.tenant_id = {}").format(sql.Literal(str(TENANT_A))))
            conn.execute("select count(*) from mapper.storage_records")
            conn.commit()
    lines = server_log.audit_lines("app_user")
    assert len(lines) == 3 and all(",MISC,SET," in line for line in lines), lines
    server_log.mark()
    with Database(two_tenants.db.conninfo("app_user"), pool_min=0, pool_max=1) as db:
        for _ in range(3):
            with db.tenant(TENANT_A, actor="alice@example.com") as conn:
                conn.execute("select count(*) from mapper.storage_records")
    # mapperdb.client sends no SET per transaction (the context is mapper.enter_tenant(), a
    # SELECT; a dirty session's DISCARD ALL is MISC, not MISC_SET): nothing.
    assert server_log.audit_lines("app_user") == []
