"""Findings that need more than one database: a real streaming replica falling behind, and the
retention job in the cron database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg

from mapperdb.analyze.model import Thresholds
from mapperdb.analyze.run import analyze
from mapperdb.db import Connector
from mapperdb.findings import Severity
from mapperdb.migrate.runner import Runner
from mapperdb.pg.ephemeral import EphemeralPostgres
from mapperdb.platform import CRON_DATABASE
from tests.analyze.conftest import by_rule
from tests.client.standby import make_standby

MIGRATIONS = Path(__file__).resolve().parents[2] / "sql" / "migrations"


def test_a_replica_that_stops_replaying_is_reported_from_the_primary() -> None:
    with EphemeralPostgres() as primary:
        standby = make_standby(primary)
        try:
            standby.wait_caught_up()
            with psycopg.connect(primary.admin_conninfo(CRON_DATABASE), autocommit=True) as conn:
                assert (
                    by_rule(analyze(conn, thresholds=Thresholds(replica_lag_bytes=1)), "AN018")
                    == []
                )
            with standby.superuser() as su:
                su.execute("select pg_wal_replay_pause()")
                with psycopg.connect(
                    primary.admin_conninfo(CRON_DATABASE), autocommit=True
                ) as conn:
                    conn.execute(
                        "create table public.filler as"
                        " select repeat('x', 100) from generate_series(1, 10000)"
                    )
                standby.wait_caught_up(received_only=True)
                with psycopg.connect(
                    primary.admin_conninfo(CRON_DATABASE), autocommit=True
                ) as conn:
                    report = analyze(conn, thresholds=Thresholds(replica_lag_bytes=1))
                su.execute("select pg_wal_replay_resume()")
            [late] = by_rule(report, "AN018")
            assert late.file.startswith("replica ")
            assert "bytes of WAL not replayed" in late.extra["evidence"]
        finally:
            standby.stop()


def test_a_retention_purge_that_never_succeeded_is_overdue() -> None:
    """In the cron database the migrations schedule mapper_purge_expired; until a run of it
    succeeds within the window, retention is overdue."""
    with EphemeralPostgres() as pg:
        Runner(Connector(pg.admin_conninfo(CRON_DATABASE)), MIGRATIONS).up()
        with psycopg.connect(pg.admin_conninfo(CRON_DATABASE), autocommit=True) as conn:
            [found] = by_rule(analyze(conn), "AN014")
            assert found.file == "cron job mapper_purge_expired"
            assert "never" in found.extra["evidence"]
            assert found.severity is Severity.INFO  # a new database: said, not raised
        # A recorded success inside the window silences it (pg_cron's own table: its worker
        # writes it, as the superuser).
        with psycopg.connect(pg.superuser_conninfo(CRON_DATABASE), autocommit=True) as su:
            su.execute(
                "insert into cron.job_run_details (jobid, runid, database, username, command,"
                " status, start_time, end_time) select jobid, 1, database, username, command,"
                " 'succeeded', now(), now() from cron.job where jobname = 'mapper_purge_expired'"
            )
        with psycopg.connect(pg.admin_conninfo(CRON_DATABASE), autocommit=True) as conn:
            quiet = analyze(conn, thresholds=Thresholds(purge_overdue=timedelta(hours=1)))
            assert by_rule(quiet, "AN014") == []
