"""The platform on every PostgreSQL major it supports: 15 (Debian), 17 (Azure's), 18 (next).

Each test runs once per version, as the roles that really use the database, against a server
shaped like Flexible Server (non-superuser admin, extension allow-list). A migration that uses a
feature one version lacks fails here on that version, with the server's own error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pglast
import psycopg
import pytest
from psycopg import errors, sql

from mapperdb.db import Connector
from mapperdb.migrate.runner import MigrationFailed, Runner
from mapperdb.pg.ephemeral import ADMIN_USER
from mapperdb.platform import CRON_DATABASE
from tests.conftest import MIGRATIONS, Database
from tests.matrix.conftest import Server
from tests.schema.schema_helpers import TENANT_A, TENANT_B, add_rows, add_tenant, tenant

TENANT_TABLES = ("storage_records", "detector_executions", "model_metrics", "tenant_configs")

# The schema as the catalog describes it: every object of schema mapper with its definition,
# owner, grants and security flags. pg_dump is not shipped with every build, and Debian's 15
# refuses newer servers, so the catalog is read in SQL.
CATALOG = """
select 'rel ' || c.relname || ' ' || c.relkind::text || ' owner=' || c.relowner::regrole
    || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
    || ' acl=' || coalesce(c.relacl::text, '') || ' opts=' || coalesce(c.reloptions::text, '')
    || ' part=' || coalesce(pg_get_partkeydef(c.oid), '')
    || ' bound=' || coalesce(pg_get_expr(c.relpartbound, c.oid), '')
from pg_class c where c.relnamespace = to_regnamespace('mapper')
union all
select 'col ' || a.attrelid::regclass || '.' || a.attname || ' '
    || format_type(a.atttypid, a.atttypmod)
    || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    || ' storage=' || a.attstorage::text || ' acl=' || coalesce(a.attacl::text, '')
from pg_attribute a
join pg_class c on c.oid = a.attrelid and c.relnamespace = to_regnamespace('mapper')
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attnum > 0 and not a.attisdropped
union all
select 'con ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
from pg_constraint where connamespace = to_regnamespace('mapper')
union all
select 'idx ' || pg_get_indexdef(indexrelid) from pg_index
where indrelid in (select oid from pg_class where relnamespace = to_regnamespace('mapper'))
union all
select 'trg ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text from pg_trigger t
where not t.tgisinternal
    and t.tgrelid in (select oid from pg_class where relnamespace = to_regnamespace('mapper'))
union all
select 'pol ' || polrelid::regclass || ' ' || polname || ' ' || polcmd::text || ' '
    || polroles::regrole[]::text || ' ' || coalesce(pg_get_expr(polqual, polrelid), '') || ' '
    || coalesce(pg_get_expr(polwithcheck, polrelid), '')
from pg_policy
where polrelid in (select oid from pg_class where relnamespace = to_regnamespace('mapper'))
union all
select 'fn ' || p.oid::regprocedure || ' owner=' || p.proowner::regrole
    || ' secdef=' || p.prosecdef || ' config=' || coalesce(p.proconfig::text, '')
    || ' acl=' || coalesce(p.proacl::text, '') || ' body=' || md5(p.prosrc)
from pg_proc p where p.pronamespace = to_regnamespace('mapper')
union all
select 'type ' || t.typname || ' ' || t.typtype::text from pg_type t
where t.typnamespace = to_regnamespace('mapper') and t.typrelid = 0
union all
select 'ns ' || n.nspname || ' owner=' || n.nspowner::regrole
    || ' acl=' || coalesce(n.nspacl::text, '')
from pg_namespace n where n.nspname = 'mapper'
union all
select 'role ' || r.rolname || ' login=' || r.rolcanlogin || ' bypassrls=' || r.rolbypassrls
    || ' in=' || array(select m.roleid::regrole::text from pg_auth_members m
                       where m.member = r.oid order by 1)::text
from pg_roles r where r.rolname like 'mapper\\_%'
union all
select 'ext ' || extname from pg_extension
order by 1
"""


def catalog(db: Database) -> list[str]:
    with psycopg.connect(db.superuser_conninfo) as conn:
        return [row[0] for row in conn.execute(CATALOG).fetchall()]


def test_up_down_to_zero_and_up_leave_the_same_catalog(server: Server) -> None:
    db = server.fresh(migrated=False)
    runner = Runner(Connector(db.admin_conninfo), MIGRATIONS)
    empty = catalog(db)
    runner.up()
    applied = catalog(db)
    assert any(line.startswith("rel storage_records ") for line in applied)
    runner.down(to=0)
    assert catalog(db) == empty
    runner.up()
    assert catalog(db) == applied
    assert runner.drift() == []
    server.pg.drop_database(db.name)


def test_tenants_see_and_write_only_their_own_rows(server: Server, matrix_db: Database) -> None:
    with psycopg.connect(matrix_db.conninfo("app_user")) as conn:
        for tenant_id, name in ((TENANT_A, "alpha"), (TENANT_B, "bravo")):
            add_tenant(conn, tenant_id, name)
            with tenant(conn, tenant_id) as cur:
                add_rows(cur, tenant_id)
    for user in ("app_user", "readonly_user"):
        with psycopg.connect(matrix_db.conninfo(user)) as conn:
            for table in TENANT_TABLES:
                query = sql.SQL("select distinct tenant_id from mapper.{}").format(
                    sql.Identifier(table)
                )
                with tenant(conn, TENANT_A) as cur:
                    assert cur.execute(query).fetchall() == [(TENANT_A,)], (user, table)
                with tenant(conn, None) as cur:
                    assert cur.execute(query).fetchall() == [], (user, table)
    with psycopg.connect(matrix_db.conninfo("app_user")) as conn:
        with pytest.raises(errors.InsufficientPrivilege), tenant(conn, TENANT_A) as cur:
            add_rows(cur, TENANT_B, count=1)
        with pytest.raises(errors.InsufficientPrivilege), tenant(conn, None) as cur:
            add_rows(cur, TENANT_A, count=1)


def test_the_audit_chain_verifies_and_finds_tampering(server: Server, matrix_db: Database) -> None:
    with psycopg.connect(matrix_db.conninfo("app_user")) as conn:
        add_tenant(conn, TENANT_A, "alpha")
        with tenant(conn, TENANT_A) as cur:
            add_rows(cur, TENANT_A)
            cur.execute("update mapper.tenant_configs set name = 'alpha2'")

    def problems() -> list[tuple[Any, ...]]:
        with (
            psycopg.connect(matrix_db.conninfo("auditor_user")) as conn,
            tenant(conn, TENANT_A) as cur,
        ):
            return cur.execute(
                "select chain_seq, problem from mapper.verify_audit_chain()"
            ).fetchall()

    assert problems() == []
    with psycopg.connect(matrix_db.superuser_conninfo) as conn:
        conn.execute("set session_replication_role = replica")  # past the append-only triggers
        conn.execute("update mapper.audit_records set actor = 'someone else' where chain_seq = 2")
    assert [seq for seq, _ in problems()] == [2]


def test_scheduled_jobs_run_as_the_admin_the_way_pg_cron_runs_them(server: Server) -> None:
    """In the cron database the migrations schedule the jobs (in pg_cron, or its stand-in where
    a build lacks it); each job's command then runs as the user pg_cron runs it as."""
    server.pg.drop_database(CRON_DATABASE)
    server.pg.create_database(CRON_DATABASE, template=None)
    cron_db = Database(server.pg, CRON_DATABASE)
    Runner(Connector(cron_db.admin_conninfo), MIGRATIONS).up()
    with psycopg.connect(cron_db.conninfo("app_user")) as conn:
        add_tenant(conn, TENANT_A, "alpha")
        with tenant(conn, TENANT_A) as cur:
            add_rows(cur, TENANT_A)
    partitions = (
        "select c.oid::regclass::text from pg_inherits i join pg_class c on c.oid = i.inhrelid"
        " where i.inhparent = 'mapper.storage_records'::regclass"
        " and not c.relname like '%default' order by pg_get_expr(c.relpartbound, c.oid) desc"
    )
    with psycopg.connect(cron_db.superuser_conninfo) as conn:
        names = [row[0] for row in conn.execute(partitions).fetchall()]
        conn.execute(sql.SQL("drop table {}").format(sql.SQL(names[0])))  # the furthest ahead
    with psycopg.connect(cron_db.admin_conninfo) as conn:
        jobs = conn.execute(
            "select jobname, command, username from cron.job where database = current_database()"
            " order by jobname"
        ).fetchall()
    assert len(jobs) >= 3
    for jobname, command, username in jobs:
        assert username == ADMIN_USER, jobname
        with psycopg.connect(cron_db.conninfo(username), autocommit=True) as conn:
            conn.execute(command)
    with psycopg.connect(cron_db.superuser_conninfo) as conn:
        # Maintenance made the missing partition again (and those of the months back, 0030);
        # retention dropped the before partition whole (its bound is older than every tenant's
        # retention: the next maintenance makes it again); the refresh aggregated today's rows.
        after = {row[0] for row in conn.execute(partitions).fetchall()}
        assert set(names) - after == {"mapper.storage_records_before"}
        views = [
            row[0]
            for row in conn.execute(
                "select format('%I.%I', schemaname, matviewname) from pg_matviews"
                " where schemaname = 'mapper'"
            ).fetchall()
        ]
        assert views
        rows = sum(
            conn.execute(sql.SQL("select count(*) from {}").format(sql.SQL(view))).fetchone()[0]
            for view in views
        )
        assert rows > 0


# Statement texts with their first line, as the lint sees them (pglast: PostgreSQL 17's grammar).
def _statements(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    found = []
    for piece in pglast.parser.split(text, with_parser=True, only_slices=True):
        found.append((text.count("\n", 0, piece.start) + 1, text[piece]))
    return found


def server_syntax_errors(dsn: str, statements: list[tuple[str, int, str]]) -> list[str]:
    """Each statement given to the server's own grammar without running it: the body of a
    PL/pgSQL function is parsed by the SQL grammar when the function is created."""
    found = []
    with psycopg.connect(dsn) as conn:
        for file, line, text in statements:
            body = f"begin\n{text};\nend"
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute(
                        sql.SQL(
                            "create function pg_temp.mapperdb_parse_check() returns void "
                            "language plpgsql as {}"
                        ).format(sql.Literal(body))
                    )
            except errors.SyntaxError as exc:
                found.append(f"{file}:{line}: {exc.diag.message_primary}")
    return found


def test_the_lint_parser_and_the_server_agree_on_every_migration(
    server: Server, matrix_db: Database
) -> None:
    statements = [
        (path.name, line, text)
        for path in sorted(MIGRATIONS.glob("*.sql"))
        for line, text in _statements(path)
    ]
    assert len(statements) > 100
    assert server_syntax_errors(matrix_db.admin_conninfo, statements) == []


def test_the_parser_check_finds_what_one_version_cannot_parse(
    server: Server, matrix_db: Database
) -> None:
    """MERGE ... RETURNING is PostgreSQL 17 syntax: pglast accepts it, 15 refuses it."""
    text = (
        "merge into mapper.tenant_configs t using (select 1 as x) s on false"
        " when not matched then do nothing returning t.tenant_id"
    )
    pglast.parse_sql(text)
    found = server_syntax_errors(matrix_db.admin_conninfo, [("x.sql", 1, text)])
    assert (found != []) is (server.major < 17), found


def test_a_migration_using_a_newer_feature_fails_with_the_servers_error(
    server: Server, tmp_path: Path
) -> None:
    """uuidv7() arrived in PostgreSQL 18."""
    (tmp_path / "0001_ids.up.sql").write_text(
        "-- Time-ordered ids.\ncreate table public.ids (id uuid default uuidv7());\n"
    )
    (tmp_path / "0001_ids.down.sql").write_text("-- Reverses 0001.\ndrop table public.ids;\n")
    db = server.fresh(migrated=False)
    runner = Runner(Connector(db.admin_conninfo), tmp_path)
    if server.major >= 18:
        runner.up()
    else:
        with pytest.raises(MigrationFailed) as failure:
            runner.up()
        assert "function uuidv7() does not exist" in failure.value.message
    server.pg.drop_database(db.name)


@pytest.mark.parametrize(
    ("extension", "allowed"),
    [("pg_stat_statements", True), ("pgcrypto", False), ("citext", False), ("hstore", False)],
)
def test_the_admin_creates_exactly_the_allowed_extensions(
    server: Server, extension: str, allowed: bool
) -> None:
    """Azure's azure.extensions, emulated on every version (citext, hstore and pgcrypto are
    trusted in stock PostgreSQL, so only the allow-list refuses them)."""
    db = server.fresh(migrated=False)
    try:
        with psycopg.connect(db.admin_conninfo) as conn:
            statement = sql.SQL("create extension {}").format(sql.Identifier(extension))
            if allowed:
                conn.execute(statement)
            else:
                with pytest.raises(psycopg.Error, match="is not allow-listed"):
                    conn.execute(statement)
    finally:
        server.pg.drop_database(db.name)


def test_pg_cron_is_refused_outside_the_cron_database(server: Server, matrix_db: Database) -> None:
    """Real pg_cron and its stand-in alike: jobs live in cron.database_name only."""
    with (
        psycopg.connect(matrix_db.admin_conninfo) as conn,
        pytest.raises(psycopg.Error, match="can only create extension in database mapper"),
    ):
        conn.execute("create extension pg_cron")


def test_only_the_admin_group_creates_extensions(server: Server) -> None:
    """A login outside azure_pg_admin may not create even an allowed extension, as on Azure."""
    db = server.fresh(migrated=False)
    try:
        with (
            psycopg.connect(db.conninfo("app_user")) as conn,
            pytest.raises(
                psycopg.errors.InsufficientPrivilege, match="permission denied to create extension"
            ),
        ):
            conn.execute("create extension pg_stat_statements")
    finally:
        server.pg.drop_database(db.name)
