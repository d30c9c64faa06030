"""The ephemeral PostgreSQL: Azure's shape, and nothing left behind however it ends."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mapperdb.errors import EnvironmentProblem
from mapperdb.pg.ephemeral import EphemeralPostgres
from mapperdb.platform import allowed_extension_names, preload_libraries
from tests.conftest import Database

REPO = Path(__file__).resolve().parents[2]


def start_sandbox(scratch: Path, *args: str, wait_s: float) -> tuple[subprocess.Popen[str], str]:
    """``mapperdb sandbox ARGS`` in ``scratch``; returns the process and its first line (the DSN).
    The wait is a hang detector, not a performance assertion: bench/sandbox_start.py measures
    start time."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mapperdb", "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MAPPERDB_TMPDIR": str(scratch)},
        cwd=REPO,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], wait_s)
    assert ready, f"sandbox {' '.join(args)} printed no DSN within {wait_s:.0f} s"
    return proc, proc.stdout.readline().strip()


def test_configured_like_flexible_server(empty_db: Database) -> None:
    with psycopg.connect(empty_db.admin_conninfo) as conn:
        settings = dict(
            conn.execute(
                "select name, setting from pg_settings where name in"
                " ('shared_preload_libraries', 'cron.database_name', 'azure.extensions')"
            ).fetchall()
        )
        assert conn.execute("show azure.extensions").fetchone() == (
            ",".join(allowed_extension_names()),
        )
    assert settings["shared_preload_libraries"] == ",".join(preload_libraries())
    assert settings["cron.database_name"] == "mapper"


def test_admin_creates_allowed_extensions_and_nothing_else(empty_db: Database) -> None:
    with psycopg.connect(empty_db.admin_conninfo, autocommit=True) as conn:
        conn.execute("create extension hypopg")
        conn.execute("create extension pg_stat_statements")  # untrusted: needs the allow-list
        for name in ("citext", "hstore"):  # trusted in PostgreSQL, but not allow-listed
            with pytest.raises(
                psycopg.errors.FeatureNotSupported, match=f'"{name}" is not allow-listed'
            ):
                conn.execute(f"create extension {name}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("drop event trigger mapperdb_extension_allowlist")


def test_admin_is_not_superuser_and_cannot_become_one(empty_db: Database) -> None:
    with psycopg.connect(empty_db.admin_conninfo, autocommit=True) as conn:
        assert conn.execute(
            "select rolsuper from pg_roles where rolname = current_user"
        ).fetchone() == (False,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("alter role current_user superuser")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("set role postgres")


def test_tcp_needs_the_password(pg: EphemeralPostgres) -> None:
    with psycopg.connect(pg.admin_url("mapper")) as conn:
        assert conn.execute("select current_user").fetchone() == ("mapperadmin",)
    wrong = pg.admin_url("mapper").replace(pg.admin_password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temp parent the unprivileged server user can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="mapperdb-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_server_runs_unprivileged_and_is_removed_on_stop(scratch: Path) -> None:
    with EphemeralPostgres(tmp_parent=scratch) as pg:
        assert pg.root is not None and pg._server is not None
        pid = pg._server.pid
        assert os.stat(f"/proc/{pid}").st_uid != 0
        root = pg.root
    assert not root.exists()
    assert not _alive(pid)
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_sandbox_serves_then_leaves_nothing_behind(
    tmp_path: Path, scratch: Path, how: signal.Signals
) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_t.up.sql").write_text("create table public.t (id bigint);")
    (migrations / "0001_t.down.sql").write_text("drop table public.t;")
    started = time.monotonic()
    proc, line = start_sandbox(scratch, "--dir", str(migrations), wait_s=60)
    elapsed = time.monotonic() - started
    assert line.startswith("DSN=postgresql://mapperadmin:"), line
    with psycopg.connect(line.removeprefix("DSN=")) as conn:
        assert conn.execute("select count(*) from mapperdb.schema_history").fetchone() == (1,)
        assert conn.execute("select to_regclass('public.t')").fetchone() == ("t",)
    cluster = next(scratch.iterdir())
    postmaster = int((cluster / "data" / "postmaster.pid").read_text().split()[0])
    proc.send_signal(how)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 15  # after SIGKILL the reaper does the work
    while time.monotonic() < deadline and (_alive(postmaster) or any(scratch.iterdir())):
        time.sleep(0.05)
    assert not _alive(postmaster), f"postgres {postmaster} outlived the sandbox ({how.name})"
    assert list(scratch.iterdir()) == [], f"temp directory left behind ({how.name})"
    print(f"sandbox DSN after {elapsed:.2f} s")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_admin_schedules_pg_cron_jobs_in_the_cron_database(pg: EphemeralPostgres) -> None:
    with psycopg.connect(pg.admin_conninfo("mapper"), autocommit=True) as conn:
        conn.execute("create extension if not exists pg_cron")
        job = conn.execute("select cron.schedule('probe', '0 3 * * *', 'select 1')").fetchone()
        assert job is not None
        conn.execute("select cron.unschedule('probe')")


def test_port_in_use_says_so() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(
            EnvironmentProblem, match="Address already in use; choose another --port"
        ):
            EphemeralPostgres(port=busy.getsockname()[1]).__enter__()


def test_sandbox_demo_seeds_through_the_app_role(scratch: Path) -> None:
    proc, line = start_sandbox(scratch, "--demo", wait_s=120)
    dsn = line.removeprefix("DSN=")
    port = psycopg.conninfo.conninfo_to_dict(dsn)["port"]
    socket_dir = next(scratch.iterdir())
    try:
        with psycopg.connect(dsn) as conn:  # the admin sees no tenant row: RLS is forced
            assert conn.execute("select count(*) from mapper.tenant_configs").fetchone() == (0,)
        # Inspect as the superuser, over the cluster's private socket.
        with psycopg.connect(
            host=str(socket_dir), port=port, user="postgres", dbname="mapper"
        ) as su:
            tenants = su.execute("select count(*) from mapper.tenant_configs").fetchone()
            # Every seeded row went through the triggers, as the admin writing as mapper_app.
            users = su.execute("select distinct db_user from mapper.audit_records").fetchall()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert tenants == (3,) and users == [("mapperadmin",)]
    assert "granted mapper_app to the sandbox admin" in err
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("major", ["17", "18"])
def test_sandbox_runs_the_version_asked_for_and_says_what_it_lacks(
    scratch: Path, major: str
) -> None:
    proc, line = start_sandbox(scratch, "--pg", major, wait_s=180)
    try:
        assert line.startswith("DSN=postgresql://mapperadmin:"), line
        with psycopg.connect(line.removeprefix("DSN=")) as conn:
            version = conn.execute("show server_version").fetchone()
            assert version is not None and version[0].startswith(f"{major}."), version
            assert conn.execute("select to_regclass('mapper.storage_records')").fetchone() == (
                "mapper.storage_records",
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    notes = [text for text in stderr.splitlines() if "emulated" in text]
    assert len(notes) == 1, stderr
    assert "pg_cron" in notes[0] and "pgaudit" in notes[0]
