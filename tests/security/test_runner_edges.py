"""Issue 9 §6: the migration runner's edges, acting as the Azure-like admin and as a plain login.

A file that takes the transaction into its own hands is refused before anything runs; a role a
file leaves set never writes the history; a login without privileges gets one line (exit 2);
``--format json`` reports every failure as a JSON object on stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mapperdb.db import Connector
from mapperdb.errors import EnvironmentProblem, MapperdbError
from mapperdb.migrate.runner import Runner
from tests.conftest import Database
from tests.migrate.helpers import history, write

MAPPERDB = [sys.executable, "-m", "mapperdb"]
FIRST = "create table public.first_half (id bigint);\n"
LAST = "create table public.second_half (id bigint);\n"


def run_cli(conninfo: str, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAPPERDB, "migrate", *args, "--dsn", conninfo, "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tables(conninfo: str) -> tuple[object, ...]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "select to_regclass('public.first_half'), to_regclass('public.second_half')"
        ).fetchone()
    assert row is not None
    return tuple(row)


def refused(exc: BaseException) -> bool:
    """The runner's refusal (by name: the test must also run against runners without it)."""
    return type(exc).__name__ == "RefusedMigration"


@pytest.mark.parametrize(
    "statement",
    [
        "commit",
        "begin",
        "start transaction",
        "rollback",
        "end",
        "abort",
        "savepoint halfway",
        "release savepoint halfway",
        "set transaction isolation level serializable",
        "prepare transaction 'mapperdb_test'",
        "commit prepared 'mapperdb_test'",
        "vacuum",
        "vacuum public.first_half",
        "create index concurrently first_half_id_idx on public.first_half (id)",
        "drop index concurrently if exists public.first_half_id_idx",
        "reindex system",
        "discard all",
    ],
)
def test_transaction_breaking_statement_is_refused_before_anything_runs(
    empty_db: Database, tmp_path: Path, statement: str
) -> None:
    write(tmp_path, 1, "split", FIRST + statement + ";\n" + LAST, "select 1;\n")
    runner = Runner(Connector(empty_db.admin_conninfo), tmp_path)
    with pytest.raises(MapperdbError) as info:
        runner.up()
    message = info.value.message
    assert (refused(info.value), info.value.exit_code) == (True, 1)
    assert "0001_split.up.sql:2: refusing to run 0001_split (up), nothing was run" in message
    assert "no-transaction" in message or "remove it" in message
    assert tables(empty_db.admin_conninfo) == (None, None)
    assert history(empty_db.admin_conninfo) == []
    with pytest.raises(MapperdbError) as info:
        runner.plan()
    assert refused(info.value)


def test_refusal_on_the_command_line_is_one_line_exit_1(empty_db: Database, tmp_path: Path) -> None:
    write(tmp_path, 1, "split", FIRST + "commit;\n" + LAST, "select 1;\n")
    for command in ("up", "plan"):
        done = run_cli(empty_db.admin_conninfo, tmp_path, command)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr
        assert lines[0].startswith("mapperdb: error: ")
        assert "0001_split.up.sql:2: refusing to run 0001_split (up)" in lines[0]
    assert tables(empty_db.admin_conninfo) == (None, None)


@pytest.mark.parametrize("statement", ["commit", "begin", "set role mapperadmin"])
def test_no_transaction_file_is_refused_too(
    empty_db: Database, tmp_path: Path, statement: str
) -> None:
    sql = "-- mapperdb:no-transaction\n" + FIRST + statement + ";\n" + LAST
    write(tmp_path, 1, "split", sql, "select 1;\n")
    with pytest.raises(MapperdbError, match=r"0001_split\.up\.sql:3: refusing to run"):
        Runner(Connector(empty_db.admin_conninfo), tmp_path).up()
    assert tables(empty_db.admin_conninfo) == (None, None)


def test_refusal_holds_for_every_pending_file_before_the_first_runs(
    empty_db: Database, tmp_path: Path
) -> None:
    write(tmp_path, 1, "fine", FIRST, "drop table public.first_half;\n")
    write(tmp_path, 2, "split", "select 1;\ncommit;\n" + LAST, "select 1;\n")
    with pytest.raises(MapperdbError, match=r"0002_split\.up\.sql:2: refusing to run"):
        Runner(Connector(empty_db.admin_conninfo), tmp_path).up()
    assert tables(empty_db.admin_conninfo) == (None, None)


@pytest.fixture
def plain_role(empty_db: Database) -> Iterator[str]:
    """A NOLOGIN role the admin is a member of, and may `set role` to."""
    name = f"r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(empty_db.admin_conninfo, autocommit=True) as conn:
        conn.execute(f"create role {name} nologin")
        conn.execute(f"grant {name} to current_user")
        conn.execute(f"grant usage, create on schema public to {name}")
    yield name
    with psycopg.connect(empty_db.admin_conninfo, autocommit=True) as conn:
        conn.execute(f"drop owned by {name}")
        conn.execute(f"drop role {name}")


def test_role_left_set_by_a_file_does_not_write_the_history(
    empty_db: Database, tmp_path: Path, plain_role: str
) -> None:
    write(tmp_path, 1, "as_role", f"set role {plain_role};\n" + FIRST, "select 1;\n")
    write(tmp_path, 2, "after", LAST, "drop table public.second_half;\n")
    Runner(Connector(empty_db.admin_conninfo), tmp_path).up()
    assert [v for v, *_ in history(empty_db.admin_conninfo)] == [1, 2]
    with psycopg.connect(empty_db.admin_conninfo) as conn:
        rows = conn.execute(
            "select c.relname, pg_get_userbyid(c.relowner) from pg_class c"
            " where c.relname in ('first_half', 'second_half') order by c.relname"
        ).fetchall()
        applied_by = conn.execute(
            "select distinct applied_by from mapperdb.schema_history"
        ).fetchall()
    # The file's own statements ran as its role; the history and the next file as the runner.
    assert rows == [("first_half", plain_role), ("second_half", "mapperadmin")]
    assert applied_by == [("mapperadmin",)]


@pytest.fixture
def plain_login(empty_db: Database) -> Iterator[str]:
    """A login with no privileges beyond PUBLIC's: not the server admin."""
    name = f"u_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(empty_db.admin_conninfo, autocommit=True) as conn:
        conn.execute(f"create role {name} login")
        conn.execute(f"revoke create on schema public from {name}")
    yield empty_db.conninfo(name)
    with psycopg.connect(empty_db.admin_conninfo, autocommit=True) as conn:
        conn.execute(f"drop role {name}")


@pytest.mark.parametrize(
    ("command", "applied_first"),
    [("up", False), ("up", True), ("status", True)],
    ids=["up-fresh", "up-migrated", "status"],
)
def test_unprivileged_login_gets_one_line_and_exit_2(
    empty_db: Database, tmp_path: Path, plain_login: str, command: str, applied_first: bool
) -> None:
    write(tmp_path, 1, "first", FIRST, "drop table public.first_half;\n")
    if applied_first:
        Runner(Connector(empty_db.admin_conninfo), tmp_path).up()
    done = run_cli(plain_login, tmp_path, command)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "may not" in lines[0] and "mapperdb.schema_history" in lines[0]
    assert "server admin" in lines[0]


def test_json_format_prints_an_error_object_on_every_failure(
    empty_db: Database, tmp_path: Path, plain_login: str
) -> None:
    write(tmp_path, 1, "split", FIRST + "commit;\n" + LAST, "select 1;\n")
    refused = run_cli(empty_db.admin_conninfo, tmp_path, "up", "--format", "json")
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert error["kind"] == "RefusedMigration"
    assert error["exit_code"] == 1
    assert error["file"].endswith("0001_split.up.sql") and error["line"] == 2
    assert "refusing to run" in error["message"]

    write(tmp_path, 1, "split", FIRST, "drop table public.first_half;\n")
    Runner(Connector(empty_db.admin_conninfo), tmp_path).up()
    denied = run_cli(plain_login, tmp_path, "status", "--format", "json")
    assert denied.returncode == 2
    assert json.loads(denied.stdout)["error"]["kind"] == "EnvironmentProblem"

    (tmp_path / "0001_split.up.sql").write_text(FIRST + "-- edited\n")
    drift = run_cli(empty_db.admin_conninfo, tmp_path, "up", "--format", "json")
    assert drift.returncode == 1
    error = json.loads(drift.stdout)["error"]
    assert error["kind"] == "DriftError" and error["drift"][0]["kind"] == "changed"

    missing = run_cli(empty_db.admin_conninfo, tmp_path / "nope", "plan", "--format", "json")
    assert missing.returncode == 2
    assert "does not exist" in json.loads(missing.stdout)["error"]["message"]

    usage = run_cli(empty_db.admin_conninfo, tmp_path, "up", "--to", "-1", "--format", "json")
    assert usage.returncode == 2
    assert json.loads(usage.stdout)["error"]["kind"] == "UsageError"


def test_runner_api_raises_the_environment_problem(
    empty_db: Database, tmp_path: Path, plain_login: str
) -> None:
    write(tmp_path, 1, "first", FIRST, "drop table public.first_half;\n")
    with pytest.raises(EnvironmentProblem) as info:
        Runner(Connector(plain_login), tmp_path).up()
    assert isinstance(info.value, MapperdbError) and info.value.exit_code == 2
