"""The runner against a real PostgreSQL, acting as the Azure-like admin (never superuser)."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from mapperdb.db import Connector
from mapperdb.migrate.runner import (
    LOCK_KEY,
    DriftError,
    Event,
    MigrationFailed,
    Runner,
    Settings,
)
from mapperdb.pg.ephemeral import ADMIN_USER
from tests.conftest import Database

from .helpers import LOG_TABLE, history, log_counts, logged_set, write

MAPPERDB = [sys.executable, "-m", "mapperdb"]


def runner(db: Database, directory: Path, **settings: object) -> Runner:
    events: list[Event] = []
    r = Runner(Connector(db.admin_conninfo), directory, Settings(**settings), events.append)  # type: ignore[arg-type]
    r.events = events  # type: ignore[attr-defined]
    return r


def cli(db: Database, directory: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*MAPPERDB, "migrate", *args, "--dsn", db.admin_conninfo, "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_up_applies_in_order_and_records_history(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 3)
    outcomes = runner(empty_db, tmp_path).up()
    assert [o.version for o in outcomes] == [1, 2, 3]
    assert history(empty_db.admin_conninfo) == [
        (1, "applied", 2, 2),
        (2, "applied", 3, 3),
        (3, "applied", 3, 3),
    ]
    with psycopg.connect(empty_db.admin_conninfo) as conn:
        row = conn.execute(
            "select applied_by, execution_mode, duration_ms >= 0, checksum ~ '^[0-9a-f]{64}$'"
            " from mapperdb.schema_history where version = 2"
        ).fetchone()
    assert row == ("mapperadmin", "transaction", True, True)
    assert runner(empty_db, tmp_path).up() == []  # idempotent


def test_up_to_and_down_to(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 4)
    r = runner(empty_db, tmp_path)
    assert [o.version for o in r.up(to=2)] == [1, 2]
    assert [s.migration.version for s in r.plan()] == [3, 4]
    r.up()
    assert [s.migration.version for s in r.plan(to=1)] == [4, 3, 2]
    assert [s.direction for s in r.plan(to=1)] == ["down"] * 3
    assert [o.version for o in r.down()] == [4]  # no --to: one step
    assert [o.version for o in r.down(to=1)] == [3, 2]
    assert [v for v, *_ in history(empty_db.admin_conninfo)] == [1]
    r.down(to=0)
    assert history(empty_db.admin_conninfo) == []
    with psycopg.connect(empty_db.admin_conninfo) as conn:
        assert conn.execute(f"select to_regclass('{LOG_TABLE}')").fetchone() == (None,)


def test_plan_changes_nothing(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 2)
    steps = runner(empty_db, tmp_path).plan()
    assert [(s.direction, s.migration.version, s.script.directives.mode) for s in steps] == [
        ("up", 1, "transaction"),
        ("up", 2, "transaction"),
    ]
    assert history(empty_db.admin_conninfo) == []
    with psycopg.connect(empty_db.admin_conninfo) as conn:
        assert conn.execute("select to_regnamespace('mapperdb')").fetchone() == (None,)


def test_two_runners_at_once_apply_each_migration_exactly_once(
    empty_db: Database, tmp_path: Path
) -> None:
    logged_set(tmp_path, 4, sleep_s=0.2)
    first, second = cli(empty_db, tmp_path, "up"), cli(empty_db, tmp_path, "up")
    results = [p.communicate(timeout=60) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), results
    assert log_counts(empty_db.admin_conninfo) == {1: 1, 2: 1, 3: 1, 4: 1}
    assert sum(out.count("applied 0") for out, _ in results) == 4


def test_second_runner_gives_up_after_lock_wait(empty_db: Database, tmp_path: Path) -> None:
    # The test holds the runners' lock itself, for as long as the waiter runs: how fast either
    # process starts under load cannot change the outcome.
    logged_set(tmp_path, 2)
    with psycopg.connect(empty_db.admin_conninfo, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        holder_pid = holder.info.backend_pid
        waiter = cli(empty_db, tmp_path, "up", "--lock-wait", "0.5")
        _out, err = waiter.communicate(timeout=120)
        assert waiter.returncode == 1, err
        assert "another migration run holds the lock" in err and f"pid {holder_pid}" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert history(empty_db.admin_conninfo) == []  # it waited, gave up, applied nothing
        holder.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    after = cli(empty_db, tmp_path, "up", "--lock-wait", "0.5")
    _out, err = after.communicate(timeout=120)
    assert after.returncode == 0, err
    assert log_counts(empty_db.admin_conninfo) == {1: 1, 2: 1}


def test_killed_runner_converges_on_rerun(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 3, sleep_s=1.5)
    proc = cli(empty_db, tmp_path, "up")
    _wait_for(lambda: _running(empty_db, "pg_sleep"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [v for v, *_ in history(empty_db.admin_conninfo)] in ([], [1], [1, 2])
    rerun = cli(empty_db, tmp_path, "up", "--lock-wait", "30")
    _out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert log_counts(empty_db.admin_conninfo) == {1: 1, 2: 1, 3: 1}
    assert [state for _, state, *_ in history(empty_db.admin_conninfo)] == ["applied"] * 3


@pytest.mark.parametrize(
    ("bad_sql", "line", "applied"),
    [
        # caught by the parser before anything runs: nothing of the run is applied
        ("select 1;\ncreate tabel nope (id bigint);\n", 2, []),
        (
            "create table public.t3 (id bigint);\ninsert into public.missing values (1);\n",
            2,
            [1, 2],
        ),  # by the server, when migration 3 runs
    ],
)
def test_failure_in_migration_k_leaves_earlier_applied_and_nothing_of_k(
    empty_db: Database, tmp_path: Path, bad_sql: str, line: int, applied: list[int]
) -> None:
    logged_set(tmp_path, 2)
    write(tmp_path, 3, "broken", bad_sql, "select 1;")
    write(tmp_path, 4, "after", "create table public.t4 (id bigint);", "drop table public.t4;")
    with pytest.raises((MigrationFailed, Exception)) as info:
        runner(empty_db, tmp_path).up()
    assert f"0003_broken.up.sql:{line}:" in str(info.value)
    assert getattr(info.value, "exit_code", None) == 1
    assert [v for v, *_ in history(empty_db.admin_conninfo)] == applied
    with psycopg.connect(empty_db.admin_conninfo) as conn:
        assert conn.execute(
            "select to_regclass('public.t3'), to_regclass('public.t4')"
        ).fetchone() == (None, None)


def test_edited_applied_migration_is_refused_and_reported(
    empty_db: Database, tmp_path: Path
) -> None:
    logged_set(tmp_path, 2)
    runner(empty_db, tmp_path).up()
    path = tmp_path / "0002_step2.up.sql"
    path.write_text(path.read_text().replace("t2 (id bigint primary key)", "t2 (id bigint)"))
    write(tmp_path, 3, "next", "select 1;", "select 1;")
    with pytest.raises(DriftError, match=r"0002_step2\.up\.sql changed since it was applied"):
        runner(empty_db, tmp_path).up()
    assert [v for v, *_ in history(empty_db.admin_conninfo)] == [1, 2]  # 3 not applied
    verify = cli(empty_db, tmp_path, "verify")
    out, _ = verify.communicate(timeout=30)
    assert verify.returncode == 1 and "0002_step2.up.sql changed" in out


def test_missing_and_unknown_versions_are_drift(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 3)
    runner(empty_db, tmp_path).up()
    for kind in ("up", "down"):
        (tmp_path / f"0003_step3.{kind}.sql").unlink()
    drift = runner(empty_db, tmp_path).drift()
    assert [(d.kind, d.version) for d in drift] == [("missing", 3)]
    assert "0003_step3 is applied in the database but has no files" in drift[0].message
    verify = cli(empty_db, tmp_path, "verify", "--format", "json")
    out, _ = verify.communicate(timeout=30)
    assert verify.returncode == 1 and '"kind": "missing"' in out


def test_crlf_only_change_is_not_drift(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 2)
    runner(empty_db, tmp_path).up()
    path = tmp_path / "0002_step2.up.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"  \r\n"))
    assert runner(empty_db, tmp_path).drift() == []
    assert runner(empty_db, tmp_path).up() == []
    verify = cli(empty_db, tmp_path, "verify")
    assert verify.wait(timeout=30) == 0


def test_failed_concurrent_index_migration_resumes_where_it_stopped(
    empty_db: Database, tmp_path: Path
) -> None:
    write(
        tmp_path,
        1,
        "table",
        "create table public.items (id bigint primary key, code text not null, kind text);\n"
        "insert into public.items values (1, 'a', 'x'), (2, 'a', 'y'), (3, 'b', 'x');\n"
        f"create table {LOG_TABLE} (version integer not null);\n",
        f"drop table public.items; drop table {LOG_TABLE};",
    )
    write(
        tmp_path,
        2,
        "indexes",
        "-- mapperdb:no-transaction\n"
        f"insert into {LOG_TABLE} (version) values (2);\n"
        "create index concurrently if not exists items_kind_ix on public.items (kind);\n"
        "create unique index concurrently if not exists items_code_key on public.items (code);\n"
        "create index concurrently if not exists items_id_code_ix on public.items (id, code);\n",
        "-- mapperdb:no-transaction\n"
        "drop index concurrently if exists public.items_id_code_ix;\n"
        "drop index concurrently if exists public.items_code_key;\n"
        "drop index concurrently if exists public.items_kind_ix;\n",
    )
    with pytest.raises(MigrationFailed) as info:
        runner(empty_db, tmp_path).up()
    assert "0002_indexes.up.sql:4: statement 3 failed" in info.value.message
    assert "resume at statement 3" in info.value.message
    assert history(empty_db.admin_conninfo) == [(1, "applied", 3, 3), (2, "partial", 2, 4)]
    assert _index_validity(empty_db) == {"items_kind_ix": True, "items_code_key": False}

    with psycopg.connect(empty_db.admin_conninfo) as conn:  # the fix: remove the duplicate
        conn.execute("delete from public.items where id = 2")
    r = runner(empty_db, tmp_path)
    assert [(s.migration.version, s.resume_at) for s in r.plan()] == [(2, 3)]
    r.up()
    assert history(empty_db.admin_conninfo)[-1] == (2, "applied", 4, 4)
    assert _index_validity(empty_db) == {
        "items_kind_ix": True,
        "items_code_key": True,
        "items_id_code_ix": True,
    }
    assert log_counts(empty_db.admin_conninfo) == {2: 1}  # statement 1 did not run twice
    r.down(to=0)
    assert history(empty_db.admin_conninfo) == []


def test_lock_timeout_is_retried_until_the_lock_is_released(
    empty_db: Database, tmp_path: Path
) -> None:
    write(tmp_path, 1, "table", "create table public.busy (id bigint);", "drop table public.busy;")
    write(
        tmp_path,
        2,
        "alter",
        "-- mapperdb:lock-timeout 100ms\n-- mapperdb:lock-retries 20\n"
        "alter table public.busy add column note text;\n",
        "alter table public.busy drop column note;",
    )
    r = runner(empty_db, tmp_path, retry_base_s=0.05, retry_cap_s=0.3)
    r.up(to=1)
    blocker = psycopg.connect(empty_db.admin_conninfo)
    blocker.execute("lock table public.busy in access share mode")  # opens a transaction
    release = threading.Timer(1.5, blocker.commit)
    release.start()
    try:
        outcomes = r.up()
    finally:
        release.join()
        blocker.close()
    assert outcomes[0].version == 2 and outcomes[0].retries >= 1
    retries = [e for e in r.events if e.kind == "retry"]  # type: ignore[attr-defined]
    assert retries and "lock timeout" in retries[0].detail


def test_lock_timeout_fails_after_bounded_retries(empty_db: Database, tmp_path: Path) -> None:
    write(tmp_path, 1, "table", "create table public.busy (id bigint);", "drop table public.busy;")
    write(
        tmp_path,
        2,
        "alter",
        "-- mapperdb:lock-timeout 50ms\n-- mapperdb:lock-retries 2\n"
        "alter table public.busy add column note text;\n",
        "alter table public.busy drop column note;",
    )
    r = runner(empty_db, tmp_path, retry_base_s=0.01, retry_cap_s=0.05)
    r.up(to=1)
    with psycopg.connect(empty_db.admin_conninfo) as blocker:
        blocker.execute("lock table public.busy in access share mode")
        with pytest.raises(MigrationFailed, match=r"after 2 retries: .*lock.*\(SQLSTATE 55P03\)"):
            r.up()
    assert [v for v, *_ in history(empty_db.admin_conninfo)] == [1]


def test_statement_timeout_directive_applies(empty_db: Database, tmp_path: Path) -> None:
    write(
        tmp_path, 1, "slow", "-- mapperdb:statement-timeout 100ms\nselect pg_sleep(2);", "select 1;"
    )
    with pytest.raises(MigrationFailed, match="57014"):
        runner(empty_db, tmp_path).up()


def _wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _running(db: Database, fragment: str) -> bool:
    with psycopg.connect(db.admin_conninfo) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where state = 'active' and query like %s"
            " and pid <> pg_backend_pid()",
            (f"%{fragment}%",),
        ).fetchone()
    return bool(row and row[0])


def _index_validity(db: Database) -> dict[str, bool]:
    with psycopg.connect(db.admin_conninfo) as conn:
        rows = conn.execute(
            "select c.relname, i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid"
            " where i.indrelid = 'public.items'::regclass and not i.indisprimary order by c.oid"
        ).fetchall()
    return {str(name): bool(valid) for name, valid in rows}


def test_environment_is_not_root_superuser(empty_db: Database) -> None:
    with psycopg.connect(empty_db.admin_conninfo) as conn:
        row = conn.execute(
            "select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolinherit,"
            " pg_has_role(current_user, 'azure_pg_admin', 'member') from pg_roles"
            " where rolname = current_user"
        ).fetchone()
    assert row == (False, True, True, True, True, True)
    assert os.environ.get("PGUSER") != "postgres"


def test_default_timeouts_are_set_for_each_migration(empty_db: Database, tmp_path: Path) -> None:
    write(
        tmp_path,
        1,
        "settings",
        "create table public.seen (name text, value text);\n"
        "insert into public.seen select 'lock_timeout', current_setting('lock_timeout');\n"
        "insert into public.seen"
        " select 'statement_timeout', current_setting('statement_timeout');\n",
        "drop table public.seen;",
    )
    write(
        tmp_path,
        2,
        "override",
        "-- mapperdb:no-transaction\n-- mapperdb:lock-timeout 750ms\n"
        "insert into public.seen select 'lock_timeout_2', current_setting('lock_timeout');\n",
        "delete from public.seen where name = 'lock_timeout_2';",
    )
    runner(empty_db, tmp_path).up()
    with psycopg.connect(empty_db.admin_conninfo) as conn:
        seen = dict(conn.execute("select name, value from public.seen").fetchall())
    assert seen == {"lock_timeout": "5s", "statement_timeout": "15min", "lock_timeout_2": "750ms"}


def test_status_reports_partial_pending_and_applied(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 2)
    write(
        tmp_path,
        3,
        "half",
        "-- mapperdb:no-transaction\nselect 1;\nselect 1/0;\nselect 3;\n",
        "select 1;",
    )
    write(tmp_path, 4, "later", "select 4;", "select 4;")
    with pytest.raises(MigrationFailed):
        runner(empty_db, tmp_path).up()
    proc = cli(empty_db, tmp_path, "status", "--format", "json")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    data = json.loads(out)
    states = [
        (m["version"], m["state"], m["statements_done"], m["statements_total"])
        for m in data["migrations"]
    ]
    assert states == [
        (1, "applied", 2, 2),
        (2, "applied", 3, 3),
        (3, "partial", 1, 3),
        (4, "pending", 0, 1),
    ]
    assert "division by zero" in data["migrations"][2]["last_error"]
    assert data["drift"] == []
    text = cli(empty_db, tmp_path, "status").communicate(timeout=30)[0]
    assert "partial 1/3" in text and "pending" in text


def test_progress_only_on_a_terminal(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 2)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [
            *MAPPERDB,
            "migrate",
            "up",
            "--to",
            "1",
            "--dsn",
            empty_db.admin_conninfo,
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=secondary,
        text=True,
    )
    out, _ = proc.communicate(timeout=30)
    os.close(secondary)
    progress = _read_all(primary)
    assert proc.returncode == 0
    assert "up 0001_log" in progress and " ms" in progress  # shown with its duration
    piped = cli(empty_db, tmp_path, "up")
    out, err = piped.communicate(timeout=30)
    assert err == ""
    assert re.fullmatch(r"applied 0002_step2 \(transaction, \d+ ms\)\n", out)


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def test_unknown_target_version_is_a_usage_error(empty_db: Database, tmp_path: Path) -> None:
    logged_set(tmp_path, 2)
    for command in ("up", "down", "plan"):
        proc = cli(empty_db, tmp_path, command, "--to", "7")
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, (command, err)
        assert "--to 7: no migration with that version" in err


def test_a_role_directive_lets_a_no_transaction_file_act_as_the_owner(
    empty_db: Database, tmp_path: Path
) -> None:
    """Concurrent index builds need the table's owner; `set role` in a no-transaction file is
    refused (a resumed run would start past it), the header's role is set for every statement,
    and the history is still written as the login."""
    with psycopg.connect(empty_db.superuser_conninfo, autocommit=True) as conn:
        conn.execute("create role directive_owner nologin")
        conn.execute("grant create on schema public to directive_owner")
        conn.execute("create table public.owned (a int)")
        conn.execute("alter table public.owned owner to directive_owner")
        conn.execute(f"grant directive_owner to {ADMIN_USER}")
    (tmp_path / "0001_index.up.sql").write_text(
        "-- mapperdb:no-transaction\n-- mapperdb:role directive_owner\n-- An index.\n"
        "create index concurrently if not exists owned_a_idx on public.owned (a);\n"
    )
    (tmp_path / "0001_index.down.sql").write_text(
        "-- mapperdb:no-transaction\n-- mapperdb:role directive_owner\n-- Reverses 0001.\n"
        "drop index concurrently if exists public.owned_a_idx;\n"
    )
    runner = Runner(Connector(empty_db.admin_conninfo), tmp_path)
    runner.up()
    with psycopg.connect(empty_db.superuser_conninfo) as conn:
        assert conn.execute("select to_regclass('public.owned_a_idx')").fetchone() == (
            "owned_a_idx",
        )
        row = conn.execute("select applied_by from mapperdb.schema_history").fetchone()
        assert row == (ADMIN_USER,)
    runner.down(to=0)
    with psycopg.connect(empty_db.superuser_conninfo) as conn:
        assert conn.execute("select to_regclass('public.owned_a_idx')").fetchone() == (None,)


def test_an_unknown_role_directive_value_is_one_line(tmp_path: Path) -> None:
    from mapperdb.migrate.files import parse_directives

    _, problems = parse_directives("-- mapperdb:role Mapper Owner;\nselect 1;\n")
    assert len(problems) == 1 and "role needs one role name" in problems[0].message


def test_a_file_that_is_not_the_owner_is_told_how_to_be(empty_db: Database, tmp_path: Path) -> None:
    with psycopg.connect(empty_db.superuser_conninfo, autocommit=True) as conn:
        conn.execute("create table public.not_mine (a int)")
    (tmp_path / "0001_alter.up.sql").write_text(
        "-- Alters a table the admin does not own.\nalter table public.not_mine add column b int;\n"
    )
    (tmp_path / "0001_alter.down.sql").write_text(
        "-- Reverses 0001.\nalter table public.not_mine drop column b;\n"
    )
    with pytest.raises(MigrationFailed) as failure:
        Runner(Connector(empty_db.admin_conninfo), tmp_path).up()
    assert "must be owner" in failure.value.message
    assert "-- mapperdb:role mapper_owner" in failure.value.message
