"""A throwaway PostgreSQL cluster shaped like Azure Database for PostgreSQL Flexible Server.

One implementation serves ``mapperdb sandbox``, ``mapperdb check`` and the pytest fixtures:

* the newest installed server binaries (:mod:`mapperdb.pg.binaries`);
* a cluster in a fresh temp directory, run as an unprivileged OS user when we are root
  (``initdb`` and ``postgres`` refuse root), listening on a unix socket in that directory and
  on a free localhost port;
* Azure's shape: ``shared_preload_libraries`` with pg_cron, pgaudit and pg_stat_statements,
  ``cron.database_name``, an extension allow-list enforced for non-superusers (pgextwlist,
  like ``azure.extensions``), and a non-superuser admin login that is a member of
  ``azure_pg_admin``, like the Flexible Server administrator;
* always removed: by :meth:`EphemeralPostgres.stop`, and by a reaper process if the owner dies
  without stopping it (SIGKILL, crash).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from mapperdb.errors import EnvironmentProblem
from mapperdb.pg.binaries import PgInstall, find_server
from mapperdb.pg.reaper import postmaster_pid, stop_postmaster
from mapperdb.platform import ADMIN_GROUP, CRON_DATABASE, allowed_extension_names, preload_libraries

SUPERUSER = "postgres"
ADMIN_USER = "mapperadmin"
READY_TIMEOUT_S = 30.0
# Unprivileged OS users to run the server as when we are root, in order of preference.
RUN_AS_CANDIDATES = ("postgres", "nobody")


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int
    name: str


def _run_as() -> RunAs | None:
    if os.geteuid() != 0:
        return None
    for name in RUN_AS_CANDIDATES:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return RunAs(entry.pw_uid, entry.pw_gid, name)
    raise EnvironmentProblem(
        "running as root but no unprivileged OS user to run PostgreSQL as; "
        "create one with: useradd --system postgres"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _settings(root: Path, port: int) -> dict[str, str]:
    """postgresql.conf additions. Durability is off: the cluster lives for minutes."""
    allowed = ",".join(allowed_extension_names())
    return {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(root),
        "unix_socket_permissions": "0700",
        "max_connections": "200",
        "shared_preload_libraries": ",".join(preload_libraries()),
        "cron.database_name": CRON_DATABASE,
        # pgextwlist: non-superusers may CREATE EXTENSION only for names on the list, and
        # those run with superuser rights, as Azure's azure.extensions does for its admin.
        "session_preload_libraries": "pgextwlist",
        "extwlist.extensions": allowed,
        "extwlist.custom_path": str(root / "extwlist"),
        "azure.extensions": allowed,
        "pgaudit.log": "ddl,role",
        "password_encryption": "scram-sha-256",
        "timezone": "UTC",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "log_min_messages": "warning",
        "log_line_prefix": "%m [%p] %u@%d ",
    }


# Scripts pgextwlist runs as superuser after CREATE EXTENSION by a non-superuser
# (<custom_path>/<extension>/after-create.sql). Azure lets its admin group schedule pg_cron jobs;
# pg_cron alone grants its schema to nobody.
AFTER_CREATE = {
    "pg_cron": f"grant usage on schema cron to {ADMIN_GROUP};\n",
}

HBA = """\
# The socket directory is private to the server's OS user (mode 0700), so trust on it is
# no wider than file access; TCP logins need a password.
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
"""


# pgextwlist lets non-superusers install listed extensions but leaves PostgreSQL's "trusted"
# extensions (citext, hstore, ...) open to them; Azure refuses anything not in azure.extensions.
# This event trigger closes that gap. It lives in its own schema that no other role can use.
ALLOWLIST_GUARD = """
create schema mapperdb_emulation;
create function mapperdb_emulation.enforce_extension_allowlist() returns event_trigger
language plpgsql as $$
declare
    ext text;
begin
    if (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = session_user) then
        return;
    end if;
    for ext in
        select e.extname from pg_catalog.pg_event_trigger_ddl_commands() c
        join pg_catalog.pg_extension e on e.oid = c.objid
        where c.classid = 'pg_catalog.pg_extension'::pg_catalog.regclass
    loop
        if not ext = any(pg_catalog.string_to_array(
            pg_catalog.replace(pg_catalog.current_setting('azure.extensions'), ' ', ''), ',')) then
            raise exception 'extension "%" is not allow-listed for "azure_pg_admin" users', ext
                using errcode = '0A000',
                      hint = 'Add it to tools/mapperdb/data/azure_extensions.toml.';
        end if;
    end loop;
end
$$;
create event trigger mapperdb_extension_allowlist on ddl_command_end
    when tag in ('CREATE EXTENSION')
    execute function mapperdb_emulation.enforce_extension_allowlist();
"""


def _quote_conf(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class EphemeralPostgres:
    """Start with ``with EphemeralPostgres() as pg:``; everything is gone after the block."""

    def __init__(self, *, port: int | None = None, tmp_parent: Path | None = None) -> None:
        self._requested_port = port
        self._tmp_parent = tmp_parent or (
            Path(os.environ["MAPPERDB_TMPDIR"]) if os.environ.get("MAPPERDB_TMPDIR") else None
        )
        self.admin_password = secrets.token_urlsafe(24)
        self.install: PgInstall | None = None
        self.root: Path | None = None
        self.port = 0
        self._server: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.install = find_server()
        run_as = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="mapperdb-pg-", dir=self._tmp_parent))
        if run_as:
            os.chown(self.root, run_as.uid, run_as.gid)
        self._start_reaper()
        self._initdb(run_as)
        self._start_server(run_as)
        self._bootstrap()

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call more than once."""
        if self._server is not None and self._server.poll() is None:
            stop_postmaster(self._server.pid)
            self._server.wait()
        elif self.root is not None:
            pid = postmaster_pid(self.root / "data")
            if pid is not None:
                stop_postmaster(pid)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.root is not None:
            _rmtree(self.root)
        if self._reaper is not None:
            assert self._reaper.stdin is not None
            self._reaper.stdin.close()
            self._reaper.wait()
            self._reaper = None
        self._server = None

    # -- connection strings --------------------------------------------------------------------
    def conninfo(self, dbname: str, user: str, *, password: str | None = None) -> str:
        """Unix-socket conninfo for ``user`` (TCP with a password when one is given)."""
        assert self.root is not None
        if password is None:
            return make_conninfo(host=str(self.root), port=self.port, dbname=dbname, user=user)
        return make_conninfo(
            host="127.0.0.1", port=self.port, dbname=dbname, user=user, password=password
        )

    def superuser_conninfo(self, dbname: str = "postgres") -> str:
        return self.conninfo(dbname, SUPERUSER)

    def admin_conninfo(self, dbname: str = CRON_DATABASE) -> str:
        """The Azure-like server admin: what migrations, the sandbox and the gate use."""
        return self.conninfo(dbname, ADMIN_USER)

    def admin_url(self, dbname: str = CRON_DATABASE) -> str:
        """A TCP URL with the admin's password, for people and other programs."""
        return f"postgresql://{ADMIN_USER}:{self.admin_password}@127.0.0.1:{self.port}/{dbname}"

    # -- databases -----------------------------------------------------------------------------
    def create_database(self, name: str, *, template: str | None = None) -> None:
        """Create a database owned by the admin; cloning a template costs milliseconds."""
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        with psycopg.connect(self.admin_conninfo("postgres"), autocommit=True) as conn:
            conn.execute(query)

    def drop_database(self, name: str) -> None:
        # As the superuser: a superuser session of a test (tampering, catalog checks) may still
        # be exiting, and only a superuser may terminate it.
        with psycopg.connect(self.superuser_conninfo("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )

    # -- internals -----------------------------------------------------------------------------
    def _start_reaper(self) -> None:
        assert self.root is not None
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "mapperdb.pg.reaper", str(self.root)],
            stdin=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )

    def _spawn_kwargs(self, run_as: RunAs | None) -> dict[str, Any]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
        }
        kwargs: dict[str, Any] = {"env": env, "cwd": str(self.root)}
        if run_as:
            kwargs.update(user=run_as.uid, group=run_as.gid, extra_groups=[])
        return kwargs

    def _initdb(self, run_as: RunAs | None) -> None:
        assert self.install is not None and self.root is not None
        datadir = self.root / "data"
        result = subprocess.run(
            [
                str(self.install.tool("initdb")),
                "-D",
                str(datadir),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            **self._spawn_kwargs(run_as),
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise EnvironmentProblem(f"initdb failed in {datadir}: {last}")
        self.port = self._requested_port or free_port()
        conf = "".join(
            f"{k} = {_quote_conf(v)}\n" for k, v in _settings(self.root, self.port).items()
        )
        with (datadir / "postgresql.conf").open("a") as fh:
            fh.write("\n# mapperdb: Azure Flexible Server shape\n" + conf)
        (datadir / "pg_hba.conf").write_text(HBA)
        for extension, script in AFTER_CREATE.items():
            folder = self.root / "extwlist" / extension
            folder.mkdir(parents=True)
            (folder / "after-create.sql").write_text(script)
            if run_as:
                for path in (folder.parent, folder, folder / "after-create.sql"):
                    os.chown(path, run_as.uid, run_as.gid)

    def _start_server(self, run_as: RunAs | None) -> None:
        assert self.install is not None and self.root is not None
        datadir = self.root / "data"
        self._log = (self.root / "postgres.log").open("ab")
        self._server = subprocess.Popen(
            [str(self.install.tool("postgres")), "-D", str(datadir)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the server in order
            **self._spawn_kwargs(run_as),
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        pidfile = datadir / "postmaster.pid"
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise EnvironmentProblem(f"PostgreSQL exited during start-up: {self._log_tail()}")
            try:
                # Line 8 of postmaster.pid turns to "ready" once connections are accepted.
                lines = pidfile.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
            time.sleep(0.01)
        raise EnvironmentProblem(
            f"PostgreSQL did not become ready in {READY_TIMEOUT_S:.0f} s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        assert self.root is not None
        try:
            lines = (self.root / "postgres.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        return lines[-1] if lines else "empty server log"

    def _bootstrap(self) -> None:
        """Roles and databases as Azure provisions them, created by the superuser once."""
        with psycopg.connect(self.superuser_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(ADMIN_GROUP)))
            # Azure grants its admin group these predefined roles (monitoring, cancelling).
            conn.execute(
                sql.SQL(
                    "grant pg_read_all_settings, pg_read_all_stats, pg_stat_scan_tables, "
                    "pg_monitor, pg_signal_backend to {}"
                ).format(sql.Identifier(ADMIN_GROUP))
            )
            conn.execute(
                sql.SQL(
                    "create role {} login nosuperuser inherit createdb createrole replication "
                    "password {} in role {}"
                ).format(
                    sql.Identifier(ADMIN_USER),
                    sql.Literal(self.admin_password),
                    sql.Identifier(ADMIN_GROUP),
                )
            )
        # Databases created later are copies of template1, so they inherit the allow-list guard.
        with psycopg.connect(self.superuser_conninfo("template1"), autocommit=True) as conn:
            conn.execute(ALLOWLIST_GUARD)
        with psycopg.connect(self.superuser_conninfo(), autocommit=True) as conn:
            conn.execute(ALLOWLIST_GUARD)
            conn.execute(
                sql.SQL("create database {} owner {}").format(
                    sql.Identifier(CRON_DATABASE), sql.Identifier(ADMIN_USER)
                )
            )


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
