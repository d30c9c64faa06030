"""``Database``: pooled connections to the primary and a read replica, one tenant per transaction.

The request path of the service::

    db = Database(primary_dsn, replica=replica_dsn, credential=DefaultAzureCredential())
    with db.tenant(tenant_id) as conn:            # BEGIN + mapper.enter_tenant(..): one round trip
        conn.execute("insert into mapper.storage_records ...")
    rows = db.run(tenant_id, list_records, readonly=True)   # replica, retried when transient

What it guarantees:

* the tenant is set with ``mapper.enter_tenant($1)`` (``set_config('app.tenant_id', $1,
  true)`` after checks) inside the transaction it belongs to, never with a session ``SET``
  (Azure's PgBouncer pools by transaction);
* a transaction handed out by :meth:`Database.tenant` finds no tenant, role, transaction,
  WITH HOLD cursor or temporary object left by an earlier one: it begins with ``begin; close
  all; select mapper.enter_tenant(..)`` (one round trip), and ``mapper.enter_tenant()``
  (migration 0028) refuses a session that carries a tenant, actor, role or temporary object
  of its own (SQLSTATE MT001); such a session is rolled back, discarded (``discard all``) and
  entered again. A transaction that ends other than by the block's COMMIT is rolled back and
  discarded before its connection goes back to the pool;
* psycopg's prepared statements survive from one transaction to the next (``prepare_threshold``;
  off by default on Azure's PgBouncer port 6432);
* read-only work goes to the replica while it is reachable and its replay lag is within
  ``max_replica_lag_s``, else to the primary;
* with a credential, each new connection authenticates with a fresh Entra ID token;
* transient failures are retried by :meth:`Database.run` (``mapperdb.client.retry``) and each
  endpoint has a circuit breaker (``mapperdb.client.breaker``).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import psycopg
import psycopg_pool
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict

from mapperdb.client.auth import TokenCredential, TokenSource
from mapperdb.client.breaker import BreakerPolicy, CircuitBreaker
from mapperdb.client.errors import CircuitOpen, OutcomeUnknown, SessionNotClean
from mapperdb.client.retry import RetryPolicy, is_transient, retrying
from mapperdb.db import describe, first_line

log = logging.getLogger(__name__)
T = TypeVar("T")
Conn = psycopg.Connection[Any]

ISOLATION_LEVELS = ("read committed", "repeatable read", "serializable")
# Replay lag of a standby: zero when it has replayed everything it received (an idle primary
# writes nothing, and the last replay timestamp would otherwise look old); zero on a primary;
# unknown (null, so not usable) when it is behind and has replayed no transaction yet.
LAG_QUERY = """
select case
    when not pg_is_in_recovery() then 0::float8
    when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0::float8
    else extract(epoch from now() - pg_last_xact_replay_timestamp())::float8
end
"""


# What a session may carry from an earlier transaction into the next tenant's is not reset on
# every return (the statements of ``discard all``, carried by each COMMIT, cost more than the
# transaction's own work and dropped the prepared statements): the next transaction's first
# round trip closes any cursor (a WITH HOLD one outlives its transaction) and checks the rest
# in ``mapper.enter_tenant`` (migration 0028), which raises this SQLSTATE if it finds any
# (docs/benchmarks.md, "Client").
DIRTY_SESSION = "MT001"
# Azure's built-in PgBouncer (transaction pooling): it keeps no prepared statement unless
# pgbouncer.max_prepared_statements is set, so psycopg's are off there by default.
PGBOUNCER_PORT = "6432"
PSYCOPG_PREPARE_THRESHOLD = 5


@dataclass(frozen=True)
class EndpointHealth:
    name: str
    endpoint: str  # user@host:port/dbname, never a password
    reachable: bool
    in_recovery: bool | None = None
    lag_s: float | None = None
    error: str | None = None
    breaker: str = "closed"


@dataclass(frozen=True)
class Health:
    primary: EndpointHealth
    replica: EndpointHealth | None
    max_replica_lag_s: float

    @property
    def ok(self) -> bool:
        return self.primary.reachable

    @property
    def replica_usable(self) -> bool:
        return (
            self.replica is not None
            and self.replica.reachable
            and self.replica.lag_s is not None
            and self.replica.lag_s <= self.max_replica_lag_s
        )

    def as_dict(self) -> dict[str, Any]:
        def one(h: EndpointHealth | None) -> dict[str, Any] | None:
            return None if h is None else h.__dict__.copy()

        return {
            "ok": self.ok,
            "primary": one(self.primary),
            "replica": one(self.replica),
            "replica_usable": self.replica_usable,
            "max_replica_lag_s": self.max_replica_lag_s,
        }


@dataclass
class _Lag:
    checked_at: float = float("-inf")
    usable: bool = False
    lag_s: float | None = None


@dataclass
class _Endpoint:
    name: str
    conninfo: str
    pool: psycopg_pool.ConnectionPool[Conn]
    breaker: CircuitBreaker
    lag: _Lag = field(default_factory=_Lag)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Database:
    """Connection pools for the primary and, optionally, a read replica."""

    def __init__(
        self,
        primary: str,
        *,
        replica: str | None = None,
        pool_min: int = 1,
        pool_max: int = 10,
        credential: TokenCredential | None = None,
        statement_timeout: float = 30.0,
        application_name: str = "llama-mapper",
        max_replica_lag_s: float = 5.0,
        lag_check_interval_s: float = 1.0,
        pool_timeout_s: float = 5.0,
        replica_timeout_s: float = 0.5,
        connect_timeout_s: int = 5,
        token_refresh_margin_s: float = 300.0,
        prepare_threshold: int | Literal["auto"] | None = "auto",
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retry_policy = retry or RetryPolicy()
        self.breaker_policy = breaker or BreakerPolicy()
        self.max_replica_lag_s = max_replica_lag_s
        self.lag_check_interval_s = lag_check_interval_s
        self.pool_timeout_s = pool_timeout_s
        self.replica_timeout_s = replica_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._tokens = (
            None
            if credential is None
            else TokenSource(credential, refresh_margin_s=token_refresh_margin_s)
        )
        self.prepare_threshold = prepare_threshold
        self.dirty_sessions = 0  # sessions found dirty and reset: a bug in the caller's code
        self._static_kwargs: dict[str, Any] = {
            "autocommit": True,  # transactions are explicit: tenant() begins and ends them
            "application_name": application_name,
            "connect_timeout": connect_timeout_s,
            # A startup option, not a session SET: ``discard all`` resets to it.
            "options": f"-c statement_timeout={round(statement_timeout * 1000)}",
        }
        self._primary = self._endpoint("primary", primary, pool_min, pool_max)
        self._replica = (
            None if replica is None else self._endpoint("replica", replica, pool_min, pool_max)
        )

    # -- pools ---------------------------------------------------------------------------------
    def _give_back(self, endpoint: _Endpoint, conn: Conn, *, clean: bool = False) -> None:
        """Return a connection to its pool.

        ``clean`` says its transaction ended with the block's COMMIT: what it may have left is
        closed or checked when the next transaction begins (``_enter``). Any other
        ending is rolled back and discarded (``_reset_session``); a connection in an unknown
        state is closed, and the pool replaces it. Done here, in the returning thread, rather
        than in psycopg_pool's ``reset`` callback: with a callback the pool hands every
        returned connection to a worker thread (its ReturnConnection task), and the next
        checkout waits for that thread (bench/client_cost.py)."""
        if not conn.closed and not clean:
            try:
                if conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
                    conn.close()  # a query still running: give up on this session
                else:
                    _reset_session(conn)
            except psycopg.Error:
                conn.close()  # the pool discards a closed connection and opens another
        endpoint.pool.putconn(conn)

    def _enter(self, endpoint: _Endpoint, conn: Conn, statement: bytes) -> None:
        """BEGIN, ``close all`` and ``mapper.enter_tenant()`` in one round trip. A session that
        an earlier transaction left with a tenant, actor, role or temporary object of its own
        is refused by the function (MT001): it is then rolled back, discarded and entered once
        more."""
        try:
            _exec(conn, statement)
            return
        except psycopg.Error as exc:
            if exc.sqlstate != DIRTY_SESSION:
                raise
            found = first_line(exc)
        self.dirty_sessions += 1
        log.warning("%s: %s; discarding the session's state", endpoint.name, found)
        _reset_session(conn)
        try:
            _exec(conn, statement)
        except psycopg.Error as exc:
            if exc.sqlstate != DIRTY_SESSION:
                raise
            raise SessionNotClean(
                f"{describe(endpoint.conninfo)}: {first_line(exc)}, even after DISCARD ALL: a "
                "default of the login or database sets it (ALTER ROLE/DATABASE ... SET); "
                "remove it"
            ) from exc

    @contextmanager
    def _borrow(self, endpoint: _Endpoint, timeout: float) -> Iterator[Conn]:
        """A connection for the health and lag probes: read-only queries outside any tenant
        transaction, which leave nothing behind unless they fail."""
        conn = endpoint.pool.getconn(timeout=timeout)
        clean = False
        try:
            yield conn
            clean = conn.pgconn.transaction_status == pq.TransactionStatus.IDLE
        finally:
            self._give_back(endpoint, conn, clean=clean)

    def _endpoint(self, name: str, conninfo: str, pool_min: int, pool_max: int) -> _Endpoint:
        params = conninfo_to_dict(conninfo)
        if self._tokens is not None and params.get("password"):
            raise ValueError(f"the {name} DSN has a password and a credential was given: drop one")

        static = dict(
            self._static_kwargs,
            prepare_threshold=prepare_threshold_for(conninfo, self.prepare_threshold),
        )

        def kwargs() -> dict[str, Any]:
            extra = dict(static)
            if self._tokens is not None:
                extra["password"] = self._tokens.token()  # fresh for this one connection
                if "sslmode" not in params:
                    extra["sslmode"] = "require"
            return extra

        pool: psycopg_pool.ConnectionPool[Conn] = psycopg_pool.ConnectionPool(
            conninfo,
            kwargs=kwargs,
            min_size=pool_min,
            max_size=pool_max,
            timeout=self.pool_timeout_s,
            name=f"mapperdb-{name}",
            open=False,
        )
        pool.open(wait=False)
        return _Endpoint(
            name, conninfo, pool, CircuitBreaker(self.breaker_policy, clock=self._clock)
        )

    def close(self) -> None:
        for endpoint in (self._primary, self._replica):
            if endpoint is not None:
                endpoint.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the primary pool has its minimum connections (startup readiness)."""
        self._primary.pool.wait(timeout)

    # -- routing -------------------------------------------------------------------------------
    def _replica_ready(self) -> bool:
        """Is the replica usable for a read now? Checks its lag at most once per interval."""
        endpoint = self._replica
        if endpoint is None:
            return False
        with endpoint.lock:
            if self._clock() - endpoint.lag.checked_at < self.lag_check_interval_s:
                return endpoint.lag.usable
            usable, lag = False, None
            if endpoint.breaker.allow():
                try:
                    with self._borrow(endpoint, self.replica_timeout_s) as conn:
                        row = conn.execute(LAG_QUERY).fetchone()
                    lag = None if row is None or row[0] is None else float(row[0])
                    endpoint.breaker.success()
                    usable = lag is not None and lag <= self.max_replica_lag_s
                except (psycopg.Error, psycopg_pool.PoolTimeout):
                    endpoint.breaker.failure()
            endpoint.lag = _Lag(self._clock(), usable, lag)
            return usable

    def _route(self, readonly: bool) -> _Endpoint:
        if readonly and self._replica_ready():
            assert self._replica is not None
            return self._replica
        return self._primary

    def endpoint_for(self, readonly: bool) -> str:
        """Which endpoint (``primary`` or ``replica``) a transaction would use now."""
        return self._route(readonly).name

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def tenant(
        self,
        tenant_id: uuid.UUID | str,
        readonly: bool = False,
        *,
        actor: str | None = None,
        isolation: str | None = None,
    ) -> Iterator[Conn]:
        """One transaction as ``tenant_id``: committed when the block ends, rolled back if it
        raises. ``readonly`` runs it read-only, on the replica when that is usable. ``actor``
        is recorded by the audit trail (``app.actor``); ``isolation`` is ``repeatable read``
        or ``serializable`` (default: the server's, read committed)."""
        statement = _begin_statement(tenant_id, readonly, actor, isolation)
        endpoint = self._route(readonly)
        if not endpoint.breaker.allow():
            raise CircuitOpen(
                f"{endpoint.name} {describe(endpoint.conninfo)} failed repeatedly; calls fail "
                f"fast for up to {self.breaker_policy.reset_timeout_s:g}s, then one probe runs"
            )
        try:
            conn = endpoint.pool.getconn()
        except psycopg_pool.PoolTimeout:
            endpoint.breaker.failure()
            raise
        committing = clean = False
        try:
            self._enter(endpoint, conn, statement)
            yield conn
            committing = True
            if conn.pgconn.transaction_status != pq.TransactionStatus.INTRANS:
                # The caller ended or broke the transaction: nothing is committed, and the
                # session is rolled back and discarded on its way back to the pool.
                raise psycopg.ProgrammingError(
                    "the tenant transaction was ended (or failed and went on) inside "
                    "db.tenant(); nothing was committed: let the block end it"
                )
            _exec(conn, b"commit")
            clean = True
        except BaseException as exc:
            # Rolled back and discarded by _give_back, after the breaker has seen the failure.
            if _endpoint_failure(exc):
                endpoint.breaker.failure()
                if endpoint is self._replica:
                    endpoint.lag = _Lag()  # re-check before the next read goes there
            if committing and not readonly and _connection_lost(exc):
                raise OutcomeUnknown(
                    f"connection to {describe(endpoint.conninfo)} lost while committing: "
                    f"{first_line(exc)}; the write may or may not have taken effect"
                ) from exc
            raise
        else:
            endpoint.breaker.success()
        finally:
            self._give_back(endpoint, conn, clean=clean)

    def run(
        self,
        tenant_id: uuid.UUID | str,
        work: Callable[[Conn], T],
        *,
        readonly: bool = False,
        idempotent: bool = False,
        actor: str | None = None,
        isolation: str | None = None,
    ) -> T:
        """``work(conn)`` in a tenant transaction, the whole transaction retried on transient
        failures (``RetryPolicy``). A write whose commit was interrupted is retried only if
        ``idempotent``; otherwise :class:`OutcomeUnknown` reaches the caller."""

        def should_retry(exc: BaseException) -> bool:
            if isinstance(exc, OutcomeUnknown):
                return idempotent
            return is_transient(exc)

        result: T
        for attempt in retrying(self.retry_policy, should_retry, sleep=self._sleep):
            with attempt, self.tenant(tenant_id, readonly, actor=actor, isolation=isolation) as c:
                result = work(c)
        return result

    # -- health --------------------------------------------------------------------------------
    def check(self) -> Health:
        """Reachability of the primary and the replica, and the replica's replay lag."""
        replica = None
        if self._replica is not None:
            replica = self._probe(self._replica)
            self._replica.lag = _Lag(
                self._clock(),
                replica.reachable
                and replica.lag_s is not None
                and replica.lag_s <= self.max_replica_lag_s,
                replica.lag_s,
            )
        return Health(self._probe(self._primary), replica, self.max_replica_lag_s)

    def _probe(self, endpoint: _Endpoint) -> EndpointHealth:
        where = describe(endpoint.conninfo)
        try:
            with self._borrow(endpoint, self.replica_timeout_s) as conn:
                row = conn.execute(f"select pg_is_in_recovery(), ({LAG_QUERY})").fetchone()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            return EndpointHealth(
                endpoint.name,
                where,
                reachable=False,
                error=first_line(exc),
                breaker=endpoint.breaker.state.value,
            )
        assert row is not None
        return EndpointHealth(
            endpoint.name,
            where,
            reachable=True,
            in_recovery=bool(row[0]),
            lag_s=None if row[1] is None else float(row[1]),
            breaker=endpoint.breaker.state.value,
        )


def prepare_threshold_for(conninfo: str, setting: int | Literal["auto"] | None) -> int | None:
    """psycopg's ``prepare_threshold`` for one endpoint: ``auto`` is psycopg's default (5),
    except on Azure's PgBouncer port, where prepared statements are off."""
    if setting != "auto":
        return setting
    ports = str(conninfo_to_dict(conninfo).get("port") or "").split(",")
    return None if PGBOUNCER_PORT in ports else PSYCOPG_PREPARE_THRESHOLD


@functools.lru_cache(maxsize=4096)
def _begin_statement(
    tenant_id: uuid.UUID | str, readonly: bool, actor: str | None, isolation: str | None
) -> bytes:
    """BEGIN, ``close all`` and ``mapper.enter_tenant()`` as one simple query (no parameters,
    so one round trip; cached, as a service serves the same tenants over and over): the tenant
    is inlined as a canonical uuid (a malformed id fails here, not in SQL), the actor as a
    quoted literal."""
    tenant = str(tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id)))
    # Both said every time: a session default left by an earlier transaction (`set session
    # characteristics as transaction read only`, `set default_transaction_isolation`) must not
    # decide this one's.
    if isolation is not None and isolation not in ISOLATION_LEVELS:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATION_LEVELS)}")
    begin = f"begin isolation level {isolation or ISOLATION_LEVELS[0]}"
    begin += " read only" if readonly else " read write"
    args = f"'{tenant}', {sql.quote(actor)}" if actor else f"'{tenant}'"
    return f"{begin}; close all; select mapper.enter_tenant({args})".encode()


def _exec(conn: Conn, statement: bytes) -> None:
    """One simple query through libpq's blocking ``PQexec`` (it releases the GIL), for the
    client's own statements: the first round trip and the COMMIT. psycopg's ``execute()`` and
    ``commit()`` spend about 30 us more of client CPU per round trip (a cursor, a non-blocking
    wait loop), which was most of what ``db.tenant()`` cost over a raw connection
    (docs/benchmarks.md). Nothing psycopg tracks changes: it reads the transaction status from
    libpq, and these statements touch no prepared statement. Errors are psycopg's own classes;
    a connection lost without an SQLSTATE is an ``OperationalError``, as psycopg raises it."""
    with conn.lock:
        result = conn.pgconn.exec_(statement)
    if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        return
    encoding = conn.info.encoding
    if conn.pgconn.status == pq.ConnStatus.BAD and not result.error_field(
        pq.DiagnosticField.SQLSTATE
    ):
        raise psycopg.OperationalError(
            f"consuming input failed: {result.get_error_message(encoding)}"
        )
    raise psycopg.errors.error_from_result(result, encoding=encoding)


def _reset_session(conn: Conn) -> None:
    """Roll back and ``discard all``: no tenant, role, cursor, temporary object, prepared
    statement, listener, advisory lock, sequence state or session setting is left. The
    rollback goes through psycopg, which then forgets its own prepared statements too (they
    go with ``discard all``); a transaction is begun first if none is open, so that it does."""
    if conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
        conn.execute(b"begin")
    conn.rollback()
    conn.execute(b"discard all", prepare=False)


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError) and (
        exc.sqlstate is None or exc.sqlstate.startswith("08") or exc.sqlstate in ("57P01", "57P02")
    )


def _endpoint_failure(exc: BaseException) -> bool:
    """Failures that say the endpoint is unhealthy (not the transaction's own conflicts)."""
    return isinstance(exc, psycopg_pool.PoolTimeout) or _connection_lost(exc)
