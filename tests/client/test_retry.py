"""Retries and the circuit breaker, provoked with real failures on the real server: a deadlock
between two sessions, a serialization failure, pg_terminate_backend (connection loss)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
import pytest

from mapperdb.client import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpen,
    Database,
    OutcomeUnknown,
    RetryPolicy,
)
from mapperdb.client.breaker import State
from tests.client.conftest import TENANT_A, App, superuser

Conn = psycopg.Connection[Any]


class Sleeps:
    """Records the backoff instead of sleeping (no timing in tests)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(app: App, sleeps: Sleeps) -> Iterator[Database]:
    policy = RetryPolicy(attempts=4, base_delay_s=0.05, max_delay_s=1.0)
    with Database(app.conninfo, pool_min=1, pool_max=3, retry=policy, sleep=sleeps) as database:
        yield database


def _tenant_conn(app: App) -> Conn:
    conn = psycopg.connect(app.conninfo)
    conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
    return conn


def test_serialization_failure_is_retried(client: Database, app: App, sleeps: Sleeps) -> None:
    attempts: list[int] = []

    def work(conn: Conn) -> str:
        attempts.append(1)
        conn.execute("select name from mapper.tenant_configs").fetchone()  # snapshot taken
        if len(attempts) == 1:
            with _tenant_conn(app) as other:
                other.execute("update mapper.tenant_configs set name = 'other'")
                other.commit()
        conn.execute("update mapper.tenant_configs set name = 'mine'")
        return "done"

    assert client.run(TENANT_A, work, isolation="serializable") == "done"
    assert len(attempts) == 2
    assert len(sleeps.delays) == 1 and 0 <= sleeps.delays[0] <= 0.05 * 2
    with client.tenant(TENANT_A) as conn:
        assert conn.execute("select name from mapper.tenant_configs").fetchone() == ("mine",)


def test_deadlock_victim_is_retried(client: Database, app: App) -> None:
    attempts: list[int] = []
    holder_ready = threading.Event()
    failure: list[BaseException] = []

    def other_session() -> None:
        try:
            with psycopg.connect(app.conninfo) as conn:
                conn.execute("select pg_advisory_xact_lock(2)")
                holder_ready.set()
                # Ask for lock 1 only once our victim waits for lock 2, so that the victim's
                # deadlock check (deadlock_timeout after it began waiting) runs first.
                with superuser(app.db) as su:
                    while not su.execute(
                        "select exists (select from pg_locks where locktype = 'advisory' "
                        "and objid = 2 and not granted)"
                    ).fetchone()[0]:  # type: ignore[index]
                        time.sleep(0.01)
                conn.execute("select pg_advisory_xact_lock(1)")
                conn.commit()
        except BaseException as exc:
            failure.append(exc)
            holder_ready.set()

    def work(conn: Conn) -> int:
        attempts.append(1)
        conn.execute("select pg_advisory_xact_lock(1)")
        if len(attempts) == 1:
            thread = threading.Thread(target=other_session)
            thread.start()
            holder_ready.wait(30)
            try:
                conn.execute("select pg_advisory_xact_lock(2)")  # deadlock: we are the victim
            finally:
                # The other session gets lock 1 once our transaction is rolled back.
                threading.Thread(target=thread.join, daemon=True).start()
        return len(attempts)

    assert client.run(TENANT_A, work) == 2
    assert not failure, failure


def test_connection_loss_before_commit_is_retried(client: Database, app: App) -> None:
    attempts: list[int] = []

    def work(conn: Conn) -> int:
        attempts.append(1)
        pid = conn.execute("select pg_backend_pid()").fetchone()
        if len(attempts) == 1:
            with superuser(app.db) as su:
                su.execute("select pg_terminate_backend(%s, 10000)", pid)
        conn.execute("update mapper.tenant_configs set retention_days = 30")
        return len(attempts)

    assert client.run(TENANT_A, work) == 2


def _terminate_self_then_commit(app: App, attempts: list[int]) -> Any:
    def work(conn: Conn) -> int:
        attempts.append(1)
        conn.execute("update mapper.tenant_configs set retention_days = 45")
        pid = conn.execute("select pg_backend_pid()").fetchone()
        if len(attempts) == 1:
            with superuser(app.db) as su:  # the connection dies just before COMMIT is sent
                su.execute("select pg_terminate_backend(%s, 10000)", pid)
        return len(attempts)

    return work


def test_write_with_unknown_outcome_is_not_retried(client: Database, app: App) -> None:
    attempts: list[int] = []
    with pytest.raises(OutcomeUnknown, match="may or may not have taken effect"):
        client.run(TENANT_A, _terminate_self_then_commit(app, attempts))
    assert len(attempts) == 1


def test_idempotent_write_with_unknown_outcome_is_retried(client: Database, app: App) -> None:
    attempts: list[int] = []
    assert client.run(TENANT_A, _terminate_self_then_commit(app, attempts), idempotent=True) == 2


def test_a_connection_cut_while_committing_is_an_unknown_outcome(client: Database) -> None:
    """The COMMIT goes through libpq's PQexec: a connection cut under it (no SQLSTATE, unlike
    pg_terminate_backend's 57P01) is still a lost connection, so the outcome is unknown."""
    unknown = pytest.raises(OutcomeUnknown, match="may or may not have taken effect")
    with unknown, client.tenant(TENANT_A) as conn:
        conn.execute("update mapper.tenant_configs set retention_days = 31")
        cut = socket.socket(fileno=os.dup(conn.pgconn.socket))
        cut.shutdown(socket.SHUT_RDWR)  # the network goes, the server says nothing
        cut.close()
    with client.tenant(TENANT_A) as conn:  # the pool replaced the connection
        assert conn.execute("select 1").fetchone() == (1,)


def test_permanent_errors_are_not_retried(client: Database) -> None:
    attempts: list[int] = []

    def work(conn: Conn) -> None:
        attempts.append(1)
        conn.execute("update mapper.tenant_configs set retention_days = 0")  # CHECK violation

    with pytest.raises(psycopg.errors.CheckViolation):
        client.run(TENANT_A, work)
    assert len(attempts) == 1


def test_retries_stop_after_the_configured_attempts(client: Database, sleeps: Sleeps) -> None:
    attempts: list[int] = []

    def work(conn: Conn) -> None:
        attempts.append(1)
        conn.execute(
            "do $$ begin raise exception 'conflict' using errcode = 'serialization_failure'; end $$"
        )

    with pytest.raises(psycopg.errors.SerializationFailure):
        client.run(TENANT_A, work)
    assert len(attempts) == 4
    assert len(sleeps.delays) == 3
    assert all(0 <= d <= min(1.0, 0.05 * 2 ** (n + 1)) for n, d in enumerate(sleeps.delays))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=3, reset_timeout_s=10), clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state is State.CLOSED
    breaker.failure()
    assert breaker.state is State.OPEN and not breaker.allow()
    clock.now += 10
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow(), "one probe"
    assert not breaker.allow(), "only one probe at a time"
    breaker.failure()
    assert breaker.state is State.OPEN, "a failed probe opens it again"
    clock.now += 10
    assert breaker.allow()
    breaker.success()
    assert breaker.state is State.CLOSED and breaker.allow()


def test_dead_primary_opens_the_breaker_and_fails_fast(app: App, sleeps: Sleeps) -> None:
    clock = Clock()
    dead = app.db.conninfo(app.user) + " port=1"
    database = Database(
        dead,
        pool_min=0,
        pool_max=1,
        pool_timeout_s=0.2,
        retry=RetryPolicy(attempts=2),
        breaker=BreakerPolicy(failure_threshold=2, reset_timeout_s=30),
        clock=clock,
        sleep=sleeps,
    )
    with database:
        with pytest.raises(psycopg_pool.PoolTimeout):  # two attempts, two failures
            database.run(TENANT_A, lambda conn: None)
        with pytest.raises(CircuitOpen, match="fail fast"):
            database.run(TENANT_A, lambda conn: None)
        clock.now += 30
        assert database._primary.breaker.state is State.HALF_OPEN
