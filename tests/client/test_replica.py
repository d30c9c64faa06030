"""Read-only transactions go to a real streaming standby while it is reachable and caught up,
and to the primary when it is down or lags more than the configured bound; ``db.check()``
reports both endpoints and the lag."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from mapperdb.client import Database
from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.client.conftest import APP_USER, KEK_URI, TENANT_A
from tests.client.standby import Standby, make_standby
from tests.conftest import MIGRATIONS

DBNAME = "mapper"


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[EphemeralPostgres, Standby]]:
    with EphemeralPostgres() as primary:
        Runner(Connector(primary.admin_conninfo(DBNAME)), MIGRATIONS).up()
        with psycopg.connect(primary.admin_conninfo("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("create role {} login in role mapper_app").format(sql.Identifier(APP_USER))
            )
        with psycopg.connect(primary.conninfo(DBNAME, APP_USER)) as conn:
            conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
            conn.execute(
                "insert into mapper.tenant_configs (tenant_id, name, key_vault_key_uri) "
                "values (%s, 'Replica test', %s)",
                (TENANT_A, KEK_URI),
            )
        standby = make_standby(primary)
        try:
            standby.wait_caught_up()
            yield primary, standby
        finally:
            standby.stop()


def _db(cluster: tuple[EphemeralPostgres, Standby], **kwargs: float) -> Database:
    primary, standby = cluster
    return Database(
        primary.conninfo(DBNAME, APP_USER),
        replica=standby.conninfo(DBNAME, APP_USER),
        pool_min=0,
        pool_max=2,
        lag_check_interval_s=0,
        **kwargs,  # type: ignore[arg-type]
    )


def _where(db: Database, readonly: bool) -> tuple[bool, str]:
    with db.tenant(TENANT_A, readonly=readonly) as conn:
        row = conn.execute(
            "select pg_is_in_recovery(), (select name from mapper.tenant_configs)"
        ).fetchone()
    assert row is not None
    return bool(row[0]), str(row[1])


def test_reads_go_to_the_replica_and_writes_to_the_primary(
    cluster: tuple[EphemeralPostgres, Standby],
) -> None:
    with _db(cluster) as db:
        assert _where(db, readonly=True) == (True, "Replica test")
        assert _where(db, readonly=False) == (False, "Replica test")
        health = db.check()
    assert health.primary.reachable and health.primary.in_recovery is False
    assert health.replica is not None and health.replica.reachable
    assert health.replica.in_recovery is True and health.replica.lag_s == 0
    assert health.replica_usable
    assert health.as_dict()["replica"]["lag_s"] == 0


def test_a_lagging_replica_is_skipped(cluster: tuple[EphemeralPostgres, Standby]) -> None:
    primary, standby = cluster

    def rename(name: str) -> None:
        with psycopg.connect(primary.conninfo(DBNAME, APP_USER)) as conn:
            conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
            conn.execute("update mapper.tenant_configs set name = %s", (name,))

    rename("Replica test")  # a replayed transaction gives the standby a replay timestamp
    standby.wait_caught_up()
    with standby.superuser() as su:
        su.execute("select pg_wal_replay_pause()")
        # A pause is only requested until the startup process reaches it.
        for _ in range(3000):
            state = su.execute("select pg_get_wal_replay_pause_state()").fetchone()
            if state == ("paused",):
                break
            time.sleep(0.01)
        assert state == ("paused",), state
        try:
            rename("Changed on the primary")
            standby.wait_caught_up(received_only=True)
            with _db(cluster, max_replica_lag_s=0.0) as db:
                assert _where(db, readonly=True) == (False, "Changed on the primary")
                health = db.check()
                assert health.replica is not None and health.replica.reachable
                assert health.replica.lag_s is not None and health.replica.lag_s > 0
                assert not health.replica_usable
            with _db(cluster, max_replica_lag_s=3600.0) as db:  # a looser bound accepts it
                assert _where(db, readonly=True) == (True, "Replica test")
        finally:
            su.execute("select pg_wal_replay_resume()")
    standby.wait_caught_up()
    with _db(cluster, max_replica_lag_s=0.0) as db:
        assert _where(db, readonly=True) == (True, "Changed on the primary")


def test_a_replica_that_is_down_falls_back_to_the_primary(
    cluster: tuple[EphemeralPostgres, Standby],
) -> None:
    _, standby = cluster
    standby.stop()
    try:
        with _db(cluster) as db:
            assert _where(db, readonly=True)[0] is False
            health = db.check()
            assert health.primary.reachable
            assert health.replica is not None and not health.replica.reachable
            assert health.replica.error
    finally:
        standby.start()
        standby.wait_caught_up()
