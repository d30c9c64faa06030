"""A throwaway PostgreSQL cluster shaped like Azure Database for PostgreSQL Flexible Server.

One implementation serves ``mapperdb sandbox``, ``mapperdb check`` and the pytest fixtures:

* the newest installed server binaries, or the major asked for: Debian's 15, the npm builds of
  17 and 18 (:mod:`mapperdb.pg.binaries`);
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

import hashlib
import os
import pwd
import secrets
import shutil
import signal
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

from mapperdb import cachedir
from mapperdb.errors import EnvironmentProblem
from mapperdb.pg.binaries import PgInstall, find_server
from mapperdb.pg.reaper import postmaster_pid, stop_postmaster
from mapperdb.platform import ADMIN_GROUP, CRON_DATABASE, allowed_extension_names, preload_libraries

SUPERUSER = "postgres"
ADMIN_USER = "mapperadmin"
READY_TIMEOUT_S = 30.0
COMPLETE = ".complete"
# Bump when _bootstrap changes in a way the cache key (settings, SQL text) cannot see.
BOOTSTRAP_VERSION = "2"
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


def _settings(install: PgInstall) -> dict[str, str]:
    """postgresql.conf additions. Durability is off: the cluster lives for minutes.

    The port and socket directory differ per run and go on the command line instead. A build
    without pgextwlist (the npm builds) gets the allowed extensions marked trusted instead
    (:mod:`mapperdb.pg.binaries`); both let the non-superuser admin create exactly those."""
    allowed = ",".join(allowed_extension_names())
    extwlist = (
        {
            # pgextwlist: non-superusers may CREATE EXTENSION only for names on the list, and
            # those run with superuser rights, as Azure's azure.extensions does for its admin.
            "session_preload_libraries": "pgextwlist",
            "extwlist.extensions": allowed,
        }
        if install.has_extwlist
        else {}
    )
    return {
        "listen_addresses": "127.0.0.1",
        "unix_socket_permissions": "0700",
        "max_connections": "200",
        "shared_preload_libraries": ",".join(
            name for name in preload_libraries() if install.has_library(name)
        ),
        "cron.database_name": CRON_DATABASE,
        **extwlist,
        "azure.extensions": allowed,
        "pgaudit.log": "ddl,role",
        "password_encryption": "scram-sha-256",
        "timezone": "UTC",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "log_min_messages": "warning",
        # POSIX segments would live in /dev/shm outside our directory and survive an immediate
        # shutdown; mmap keeps them under pg_dynshmem, removed with the cluster.
        "dynamic_shared_memory_type": "mmap",
        "log_line_prefix": "%m [%p] %u@%d ",
    }


# Scripts pgextwlist runs as superuser after a non-superuser's CREATE EXTENSION
# (<extwlist.custom_path>/<extension>/after-create.sql). Azure lets its admin group schedule
# pg_cron jobs; pg_cron by itself grants its schema to nobody.
AFTER_CREATE = {
    "pg_cron": f"grant usage on schema cron to {ADMIN_GROUP};\n",
}
# Inside the data directory, so the cached cluster carries the scripts along.
EXTWLIST_DIR = "mapperdb_extwlist"

HBA = """\
# The socket directory is private to the server's OS user (mode 0700), so trust on it is
# no wider than file access; TCP logins need a password.
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
"""


# pgextwlist lets any non-superuser install listed extensions and leaves PostgreSQL's "trusted"
# extensions (citext, hstore, ...) open to them; Azure lets only azure_pg_admin members create
# extensions, and only those in azure.extensions. This event trigger closes both gaps. It
# lives in its own schema that no other role can use.
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
    -- On Azure only the admin group creates extensions, whatever else a login may do.
    if not pg_catalog.pg_has_role(session_user, 'azure_pg_admin', 'member') then
        raise exception 'permission denied to create extension: only members of '
            '"azure_pg_admin" may create extensions'
            using errcode = '42501';
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

    def __init__(
        self, *, port: int | None = None, tmp_parent: Path | None = None, major: int | None = None
    ) -> None:
        self._requested_port = port
        self._major = major
        self._tmp_parent = tmp_parent or _default_tmp_parent()
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
        self.install = find_server(self._major)
        run_as = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="mapperdb-pg-", dir=self._tmp_parent))
        if run_as:
            os.chown(self.root, run_as.uid, run_as.gid)
        self._start_reaper()
        self.port = self._requested_port or free_port()
        cached = self._cache_path()
        if cached is not None and (cached / COMPLETE).exists():
            # cp -a keeps the server user's ownership and modes, which PostgreSQL checks.
            subprocess.run(["cp", "-a", str(cached / "data"), str(self.root / "data")], check=True)
            self._start_server(run_as)
        else:
            self._initdb(run_as)
            self._start_server(run_as)
            self._bootstrap()
            if cached is not None:
                self._save_to_cache(cached, run_as)
        with psycopg.connect(self.superuser_conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("alter role {} password {}").format(
                    sql.Identifier(ADMIN_USER), sql.Literal(self.admin_password)
                )
            )

    def _cache_path(self) -> Path | None:
        """Where an initialised, bootstrapped cluster is kept: initdb is most of the start-up
        time, and its result depends only on the binaries and our settings. It holds no
        secret (the superuser has no password; the admin's is set per run)."""
        if os.environ.get("MAPPERDB_PG_CACHE") == "off":
            return None
        assert self.install is not None
        base = Path(os.environ.get("MAPPERDB_PG_CACHE") or cachedir.base())
        if not cachedir.trusted(base):
            return None
        key = hashlib.sha256(
            "\0".join(
                [
                    str(self.install.bindir),
                    _server_version(self.install),
                    repr(sorted(_settings(self.install).items())),
                    HBA,
                    ALLOWLIST_GUARD,
                    repr(AFTER_CREATE),
                    BOOTSTRAP_VERSION,
                    ADMIN_USER,
                    ADMIN_GROUP,
                    CRON_DATABASE,
                ]
            ).encode()
        ).hexdigest()[:16]
        return base / f"pg{self.install.major}-{key}"

    def _save_to_cache(self, cached: Path, run_as: RunAs | None) -> None:
        """Stop cleanly (so copies start without crash recovery), copy, restart."""
        assert self._server is not None and self.root is not None
        self._server.send_signal(signal.SIGINT)  # fast shutdown: a clean checkpoint
        self._server.wait()
        try:
            cached.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cached.parent))
            subprocess.run(["cp", "-a", str(self.root / "data"), str(staging / "data")], check=True)
            (staging / "data" / "postmaster.pid").unlink(missing_ok=True)
            (staging / COMPLETE).touch()
            try:
                staging.rename(cached)  # atomic; a concurrent builder may have won the race
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            pass  # no cache, just a slower next start
        if self._log is not None:
            self._log.close()
        self._start_server(run_as)

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
            hint = ""
            if run_as and "Permission denied" in last:
                hint = (
                    f"; the server runs as OS user {run_as.name}, so every parent directory "
                    "must be searchable by it (set MAPPERDB_TMPDIR to one that is)"
                )
            raise EnvironmentProblem(f"initdb failed in {datadir}: {last}{hint}")
        conf = "".join(f"{k} = {_quote_conf(v)}\n" for k, v in _settings(self.install).items())
        with (datadir / "postgresql.conf").open("a") as fh:
            fh.write("\n# mapperdb: Azure Flexible Server shape\n" + conf)
        (datadir / "pg_hba.conf").write_text(HBA)
        for extension, script in AFTER_CREATE.items():
            folder = datadir / EXTWLIST_DIR / extension
            folder.mkdir(parents=True)
            (folder / "after-create.sql").write_text(script)
            if run_as:
                for path in (folder.parent, folder, folder / "after-create.sql"):
                    os.chown(path, run_as.uid, run_as.gid)

    def _start_server(self, run_as: RunAs | None) -> None:
        assert self.install is not None and self.root is not None
        datadir = self.root / "data"
        self._log = (self.root / "postgres.log").open("ab")
        command = [
            str(self.install.tool("postgres")),
            "-D",
            str(datadir),
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.root}",
        ]
        if self.install.has_extwlist:
            command += ["-c", f"extwlist.custom_path={datadir / EXTWLIST_DIR}"]
        self._server = subprocess.Popen(
            command,
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
        # The first FATAL or ERROR says why (port in use, bad setting); the last line is
        # usually just "database system is shut down".
        for line in lines:
            if "could not bind" in line:
                return line.split(":  ", 1)[-1].strip() + "; choose another --port"
        for line in lines:
            if any(f" {level}:  " in line for level in ("FATAL", "ERROR", "PANIC")):
                return line.split(":  ", 1)[-1].strip()
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
                    "in role {}"
                ).format(sql.Identifier(ADMIN_USER), sql.Identifier(ADMIN_GROUP))
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


def _default_tmp_parent() -> Path | None:
    """``MAPPERDB_TMPDIR``, else /dev/shm: a throwaway cluster has no reason to touch a disk,
    and on these virtual disks copying or initialising a cluster in RAM is ~10x faster."""
    if os.environ.get("MAPPERDB_TMPDIR"):
        return Path(os.environ["MAPPERDB_TMPDIR"])
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private directory inside
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


def _server_version(install: PgInstall) -> str:
    result = subprocess.run(
        [str(install.tool("postgres")), "--version"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
