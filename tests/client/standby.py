"""A real streaming standby of an ephemeral server (pg_basebackup -R), for the replica tests.

The primary is a server of its own (not the session's), because taking a base backup needs a
replication line in its pg_hba.conf: ``local replication all trust``, on the private socket."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from mapperdb.pg.ephemeral import SUPERUSER, EphemeralPostgres, _run_as, free_port


@dataclass
class Standby:
    primary: EphemeralPostgres
    datadir: Path
    sockdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def conninfo(self, dbname: str, user: str) -> str:
        return make_conninfo(host=str(self.sockdir), port=self.port, dbname=dbname, user=user)

    def start(self) -> None:
        pg = self.primary
        log = (self.sockdir / "standby.log").open("ab")
        assert pg.install is not None
        self.proc = subprocess.Popen(
            [
                str(pg.install.tool("postgres")),
                "-D", str(self.datadir),
                "-c", f"port={self.port}",
                "-c", f"unix_socket_directories={self.sockdir}",
                "-c", "hot_standby=on",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **pg._spawn_kwargs(_run_as()),
        )  # fmt: skip
        pidfile = self.datadir / "postmaster.pid"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"standby exited: {(self.sockdir / 'standby.log').read_text()}")
            try:
                lines = pidfile.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[7].strip() in ("ready", "standby"):
                return
            time.sleep(0.02)
        raise RuntimeError("standby did not become ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # fast shutdown
            self.proc.wait(timeout=60)
        self.proc = None

    def superuser(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.conninfo("postgres", SUPERUSER), autocommit=True)

    def wait_caught_up(self, timeout_s: float = 60, *, received_only: bool = False) -> None:
        """Until the standby has replayed (or only received) the primary's WAL up to now."""
        function = "pg_last_wal_receive_lsn" if received_only else "pg_last_wal_replay_lsn"
        with psycopg.connect(self.primary.superuser_conninfo(), autocommit=True) as p:
            # The insert position: with synchronous_commit off, a commit may not be written yet.
            row = p.execute("select pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        with self.superuser() as s:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                done = s.execute(f"select {function}() >= %s::pg_lsn", (row[0],)).fetchone()
                if done is not None and done[0]:
                    return
                time.sleep(0.02)
        raise RuntimeError("standby did not catch up")


def make_standby(pg: EphemeralPostgres) -> Standby:
    assert pg.root is not None and pg.install is not None
    run_as = _run_as()
    data = pg.root / "data"
    with (data / "pg_hba.conf").open("a") as fh:  # root appends; the owner stays the server's
        fh.write("local replication all trust\n")
    with psycopg.connect(pg.superuser_conninfo(), autocommit=True) as conn:
        conn.execute("select pg_reload_conf()")
    sockdir = pg.root / "standby-socket"
    sockdir.mkdir(mode=0o700)
    if run_as:
        os.chown(sockdir, run_as.uid, run_as.gid)
    datadir = pg.root / "standby"
    result = subprocess.run(
        [
            str(pg.install.tool("pg_basebackup")),
            "-D", str(datadir),
            "-h", str(pg.root),
            "-p", str(pg.port),
            "-U", SUPERUSER,
            "-R",
            "-X", "stream",
            "--no-sync",
            "-c", "fast",
        ],
        capture_output=True,
        text=True,
        check=False,
        **pg._spawn_kwargs(run_as),
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"pg_basebackup failed: {result.stderr.strip()}")
    standby = Standby(pg, datadir, sockdir, free_port())
    standby.start()
    return standby
