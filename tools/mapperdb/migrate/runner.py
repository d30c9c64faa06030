"""The migration runner: safe to run from pipelines against production.

Guarantees (docs/migrations.md explains each):
* one runner at a time per database, by polling a session advisory lock (never blocking on it,
  which deadlocks with CREATE INDEX CONCURRENTLY);
* a transactional migration and its history row commit together, or neither does;
* a no-transaction migration records its progress after every statement, so a failure or a
  kill at statement k is resumed at k by the next ``up``; nothing ever needs a manual "force";
* every migration runs under lock_timeout and statement_timeout, and a lock timeout is retried
  with jittered backoff a bounded number of times;
* drift (an applied file changed or vanished, or the database knows versions we do not) stops
  ``up`` and ``down`` before anything runs, and so does a file the runner cannot run safely
  (a syntax error, a bad directive, a COMMIT of its own: see ``guard``);
* the history is always written as the runner's own role, whatever role a file left set.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
from pglast import ast
from psycopg import errors as pgerrors
from psycopg import sql

from mapperdb.db import Connector, describe, first_line
from mapperdb.errors import ConfigError, EnvironmentProblem, FindingsError
from mapperdb.migrate import guard, history
from mapperdb.migrate.files import Migration, MigrationFile, Statement, load_migrations, normalize
from mapperdb.migrate.history import HistoryRow

# "mapperdb" in ASCII: the advisory lock key every runner agrees on (per database).
LOCK_KEY = int.from_bytes(b"mapperdb", "big") & 0x7FFF_FFFF_FFFF_FFFF
RETRYABLE = (pgerrors.LockNotAvailable, pgerrors.DeadlockDetected)

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class Settings:
    lock_wait_s: float = 60.0
    lock_poll_s: float = 0.25
    lock_timeout: str = "5s"
    statement_timeout: str = "15min"
    lock_retries: int = 5
    retry_base_s: float = 0.25
    retry_cap_s: float = 8.0


@dataclass(frozen=True)
class Step:
    direction: Direction
    migration: Migration
    resume_at: int = 1  # first statement to run (a resumed no-transaction migration starts later)

    @property
    def script(self) -> MigrationFile:
        if self.direction == "up":
            return self.migration.up
        if self.migration.down is None:
            raise ConfigError(f"{self.migration.up.path} has no down file to revert it with")
        return self.migration.down

    def as_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "version": self.migration.version,
            "name": self.migration.name,
            "file": str(self.script.path),
            "mode": self.script.directives.mode,
            "resume_at_statement": self.resume_at,
        }


@dataclass(frozen=True)
class Outcome:
    direction: Direction
    version: int
    name: str
    mode: str
    duration_ms: int
    retries: int

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Drift:
    kind: Literal["changed", "missing", "renamed"]
    version: int
    message: str

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Event:
    kind: Literal["start", "done", "retry", "resume"]
    step: Step
    detail: str = ""
    duration_ms: int | None = None


class MigrationFailed(FindingsError):
    """A migration's SQL failed; the message says what is applied and how to go on."""

    def __init__(self, message: str, *, path: Path, line: int) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class DriftError(FindingsError):
    def __init__(self, drift: list[Drift]) -> None:
        self.drift = drift
        detail = "; ".join(d.message for d in drift)
        super().__init__(f"refusing to migrate: {len(drift)} drift problem(s): {detail}")


class LockWaitTimeout(FindingsError):
    pass


class RefusedMigration(MigrationFailed):
    """A file the runner will not start, because running it could not keep its promises."""


def check_runnable(step: Step) -> None:
    """Refuses, before anything runs, a file with a bad directive, a syntax error, or a
    statement that cannot run the way the runner would run it (``guard``)."""
    script = step.script
    _ = script.directives  # raises on a bad directive, naming file and line
    for stmt in script.runnable:
        reason = guard.refusal(script, stmt)
        if reason is not None:
            raise RefusedMigration(
                f"{script.path}:{stmt.line}: refusing to run {step.migration.label}"
                f" ({step.direction}), nothing was run: {reason}",
                path=script.path,
                line=stmt.line,
            )


def concurrent_index(stmt: Statement) -> tuple[str | None, str] | None:
    """(schema, name) of a CREATE INDEX CONCURRENTLY with a name, else None."""
    node = stmt.node
    if isinstance(node, ast.IndexStmt) and node.concurrent and node.idxname:
        return (node.relation.schemaname if node.relation else None), node.idxname
    return None


def prefix_checksum(statements: list[Statement], done: int) -> str:
    digest = hashlib.sha256()
    for stmt in statements[:done]:
        digest.update(normalize(stmt.sql).encode("utf-8") + b"\0")
    return digest.hexdigest()


def find_drift(migrations: list[Migration], applied: dict[int, HistoryRow]) -> list[Drift]:
    by_version = {m.version: m for m in migrations}
    drift = []
    for version, row in applied.items():
        migration = by_version.get(version)
        if migration is None:
            drift.append(
                Drift(
                    "missing",
                    version,
                    f"{row.label} is applied in the database but has no files in the migrations "
                    "directory (deleted or renamed?)",
                )
            )
        elif migration.name != row.name:
            drift.append(
                Drift(
                    "renamed",
                    version,
                    f"{migration.up.path} was applied as {row.label}; restore the old name",
                )
            )
        elif row.state == "applied" and migration.up.checksum != row.checksum:
            drift.append(
                Drift(
                    "changed",
                    version,
                    f"{migration.up.path} changed since it was applied"
                    f" at {row.applied_at:%Y-%m-%d %H:%M} by {row.applied_by};"
                    " revert the edit and add a new migration instead",
                )
            )
        elif row.state == "partial" and migration.up.checksum != row.checksum:
            statements = migration.up.runnable
            if prefix_checksum(statements, row.statements_done) != row.prefix_checksum:
                drift.append(
                    Drift(
                        "changed",
                        version,
                        f"{migration.up.path}: statements 1-{row.statements_done} already ran and "
                        "have changed since; only the statements not yet run may be edited",
                    )
                )
    return drift


def _duration_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


@dataclass
class Runner:
    connector: Connector
    directory: Path
    settings: Settings = field(default_factory=Settings)
    on_event: Callable[[Event], None] = lambda _event: None

    # -- read-only --------------------------------------------------------------------------
    def migrations(self) -> list[Migration]:
        return load_migrations(self.directory)

    def applied(self) -> dict[int, HistoryRow]:
        with self.connector.connect() as conn, self._privileges(conn, "read"):
            return history.read(conn)

    def drift(self) -> list[Drift]:
        migrations = self.migrations()
        return find_drift(migrations, self.applied())

    def plan(self, to: int | None = None, *, direction: Direction | None = None) -> list[Step]:
        """What ``up`` (or ``down``) would run, without changing the database.

        With ``direction=None`` the target decides: a target below the newest applied version
        plans a ``down``, anything else an ``up``.
        """
        migrations = self.migrations()
        applied = self.applied()
        if direction is None:
            newest = max(applied, default=0)
            direction = "down" if to is not None and to < newest else "up"
        steps = self._steps(migrations, applied, direction, to)
        for step in steps:
            check_runnable(step)  # a plan that `up` would refuse is refused here too
        return steps

    def _steps(
        self,
        migrations: list[Migration],
        applied: dict[int, HistoryRow],
        direction: Direction,
        to: int | None,
    ) -> list[Step]:
        known = {m.version for m in migrations}
        if to is not None and to != 0 and to not in known:
            raise ConfigError(f"--to {to}: no migration with that version in {self.directory}")
        if direction == "up":
            target = max(known, default=0) if to is None else to
            steps = []
            newest_applied = max((v for v, r in applied.items() if r.state == "applied"), default=0)
            for m in migrations:
                if m.version > target:
                    break
                row = applied.get(m.version)
                if row is None:
                    if m.version < newest_applied:
                        raise FindingsError(
                            f"{m.up.path} is pending but newer version {newest_applied:04d} is "
                            "already applied; renumber it above the newest applied version"
                        )
                    steps.append(Step("up", m))
                elif row.state == "partial":
                    steps.append(Step("up", m, resume_at=row.statements_done + 1))
            return steps
        by_version = {m.version: m for m in migrations}
        versions = sorted(applied, reverse=True)
        if to is None:
            versions = versions[:1]
        return [Step("down", by_version[v]) for v in versions if to is None or v > to]

    # -- changes ----------------------------------------------------------------------------
    def up(self, to: int | None = None) -> list[Outcome]:
        return self._run("up", to)

    def down(self, to: int | None = None) -> list[Outcome]:
        return self._run("down", to)

    def _run(self, direction: Direction, to: int | None) -> list[Outcome]:
        migrations = self.migrations()
        with self.connector.connect() as conn, self._locked(conn):
            with self._privileges(conn, "create and read"):
                history.ensure(conn)
                applied = history.read(conn)
            drift = find_drift(migrations, applied)
            if drift:
                raise DriftError(drift)
            steps = self._steps(migrations, applied, direction, to)
            for step in steps:
                check_runnable(step)
            return [self._execute(conn, step) for step in steps]

    @contextmanager
    def _privileges(self, conn: psycopg.Connection[Any], verb: str) -> Iterator[None]:
        """A login that may not touch the history table gets one line that says so."""
        try:
            yield
        except pgerrors.InsufficientPrivilege as exc:
            user = "this login"
            if not conn.closed:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.rollback()
                row = conn.execute("select current_user").fetchone()
                user = f"user {row[0]}" if row else user
            raise EnvironmentProblem(
                f"{user} may not {verb} the migration history {history.TABLE} on "
                f"{describe(self.connector.conninfo)} ({first_line(exc)}); run migrations as the "
                "server admin (the login that owns the schema)"
            ) from None

    @contextmanager
    def _locked(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        deadline = time.monotonic() + self.settings.lock_wait_s
        while True:
            row = conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                raise LockWaitTimeout(
                    f"another migration run holds the lock on {describe(self.connector.conninfo)}"
                    f"{self._lock_holder(conn)}; waited {self.settings.lock_wait_s:g} s; "
                    "let it finish, or raise --lock-wait"
                )
            time.sleep(self.settings.lock_poll_s)
        try:
            yield
        finally:
            if not conn.closed:
                conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))

    @staticmethod
    def _lock_holder(conn: psycopg.Connection[Any]) -> str:
        row = conn.execute(
            "select a.pid, a.usename, a.application_name, a.backend_start"
            " from pg_locks l join pg_stat_activity a on a.pid = l.pid"
            " where l.locktype = 'advisory' and l.granted and l.database ="
            " (select oid from pg_database where datname = current_database())"
            " and l.classid = %s and l.objid = %s",
            ((LOCK_KEY >> 32) & 0xFFFF_FFFF, LOCK_KEY & 0xFFFF_FFFF),
        ).fetchone()
        if not row:
            return ""
        app = row[2] or "no application_name"
        return f" (pid {row[0]}, user {row[1]}, {app}, since {row[3]:%H:%M:%S})"

    def _timeouts(self, script: MigrationFile) -> dict[str, str]:
        d = script.directives
        return {
            "lock_timeout": d.lock_timeout or self.settings.lock_timeout,
            "statement_timeout": d.statement_timeout or self.settings.statement_timeout,
        }

    def _set_timeouts(
        self, conn: psycopg.Connection[Any], script: MigrationFile, *, local: bool
    ) -> None:
        for name, value in self._timeouts(script).items():
            conn.execute("select set_config(%s, %s, %s)", (name, value, local))

    def _backoff(self, step: Step, attempt: int, retries: int, exc: Exception) -> None:
        ceiling = min(self.settings.retry_cap_s, self.settings.retry_base_s * 2**attempt)
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto
        reason = "lock timeout" if isinstance(exc, pgerrors.LockNotAvailable) else "deadlock"
        self.on_event(
            Event("retry", step, f"{reason}; retry {attempt + 1}/{retries} in {delay:.1f} s")
        )
        time.sleep(delay)

    def _execute(self, conn: psycopg.Connection[Any], step: Step) -> Outcome:
        script = step.script
        if step.resume_at > 1:
            self.on_event(Event("resume", step, f"resuming at statement {step.resume_at}"))
        self.on_event(Event("start", step))
        started = time.monotonic()
        if script.directives.transaction:
            retries = self._run_transaction(conn, step)
        else:
            retries = self._run_statements(conn, step)
        duration = _duration_ms(started)
        self.on_event(Event("done", step, duration_ms=duration))
        m = step.migration
        return Outcome(step.direction, m.version, m.name, script.directives.mode, duration, retries)

    def _retries(self, script: MigrationFile) -> int:
        d = script.directives.lock_retries
        return self.settings.lock_retries if d is None else d

    @staticmethod
    def _own_role(conn: psycopg.Connection[Any]) -> None:
        """Back to the login's own role: a file's `set role` must not write the history."""
        conn.execute("reset session authorization")
        conn.execute("reset role")

    def _finish(self, conn: psycopg.Connection[Any], step: Step, duration_ms: int) -> None:
        m = step.migration
        self._own_role(conn)
        if step.direction == "down":
            history.delete(conn, m.version)
        else:
            history.record_applied(
                conn,
                version=m.version,
                name=m.name,
                checksum=m.up.checksum,
                mode=m.up.directives.mode,
                statements=len(m.up.runnable),
                duration_ms=duration_ms,
            )

    def _run_transaction(self, conn: psycopg.Connection[Any], step: Step) -> int:
        script = step.script
        allowed = self._retries(script)
        for attempt in range(allowed + 1):
            started = time.monotonic()
            current: Statement | None = None
            phase = "setup"
            try:
                with conn.transaction():
                    self._set_timeouts(conn, script, local=True)
                    if script.directives.role:
                        conn.execute(
                            sql.SQL("set local role {}").format(
                                sql.Identifier(script.directives.role)
                            )
                        )
                    for current in script.runnable:
                        conn.execute(current.sql)
                    current, phase = None, "writing the history row"
                    self._finish(conn, step, _duration_ms(started))
                return attempt
            except RETRYABLE as exc:
                if attempt >= allowed:
                    raise self._failure(step, current, exc, attempt, phase) from None
                self._backoff(step, attempt, allowed, exc)
            except psycopg.Error as exc:
                raise self._failure(step, current, exc, attempt, phase) from None
        raise AssertionError("unreachable")

    def _run_statements(self, conn: psycopg.Connection[Any], step: Step) -> int:
        script = step.script
        statements = script.runnable
        allowed = self._retries(script)
        retries = 0
        started = time.monotonic()
        self._set_timeouts(conn, script, local=False)
        try:
            for stmt in statements[step.resume_at - 1 :]:
                for attempt in range(allowed + 1):
                    try:
                        self._clear_failed_concurrent_index(conn, stmt)
                        self._as_role(conn, script)
                        conn.execute(stmt.sql)
                        break
                    except RETRYABLE as exc:
                        if attempt >= allowed:
                            self._progress(conn, step, stmt.index - 1, exc)
                            raise self._failure(step, stmt, exc, retries) from None
                        retries += 1
                        self._backoff(step, attempt, allowed, exc)
                    except psycopg.Error as exc:
                        self._progress(conn, step, stmt.index - 1, exc)
                        raise self._failure(step, stmt, exc, retries) from None
                if step.direction == "up" and stmt.index < len(statements):
                    self._progress(conn, step, stmt.index, None)
            with conn.transaction():
                self._finish(conn, step, _duration_ms(started))
        finally:
            self._own_role(conn)
            for name in self._timeouts(script):
                conn.execute(sql.SQL("reset {}").format(sql.Identifier(name)))
        return retries

    @staticmethod
    def _as_role(conn: psycopg.Connection[Any], script: MigrationFile) -> None:
        """The file's `-- mapperdb:role`, set again before each statement: progress rows are
        written as the login in between, and a resumed run starts with it too."""
        if script.directives.role:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(script.directives.role)))

    def _progress(
        self, conn: psycopg.Connection[Any], step: Step, done: int, exc: BaseException | None
    ) -> None:
        if step.direction != "up":
            return
        m = step.migration
        self._own_role(conn)
        history.record_progress(
            conn,
            version=m.version,
            name=m.name,
            checksum=m.up.checksum,
            done=done,
            total=len(m.up.runnable),
            prefix_checksum=prefix_checksum(m.up.runnable, done),
            error=first_line(exc) if exc else None,
        )

    @staticmethod
    def _clear_failed_concurrent_index(conn: psycopg.Connection[Any], stmt: Statement) -> None:
        """A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind, and a rerun with
        IF NOT EXISTS would silently keep it. Drop it first so the rerun builds it for real."""
        index = concurrent_index(stmt)
        if index is None:
            return
        schema, name = index
        row = conn.execute(
            "select n.nspname from pg_index i join pg_class c on c.oid = i.indexrelid"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where c.relname = %s and not i.indisvalid"
            " and (%s::text is null and pg_table_is_visible(c.oid) or n.nspname = %s)",
            (name, schema, schema),
        ).fetchone()
        if row:
            conn.execute(
                sql.SQL("drop index concurrently if exists {}.{}").format(
                    sql.Identifier(row[0]), sql.Identifier(name)
                )
            )

    def _failure(
        self,
        step: Step,
        stmt: Statement | None,
        exc: BaseException,
        retries: int,
        phase: str = "setup",
    ) -> MigrationFailed:
        script = step.script
        line = stmt.line if stmt else 1
        position = getattr(getattr(exc, "diag", None), "statement_position", None)
        if stmt and position:
            line += stmt.sql.count("\n", 0, int(position) - 1)
        sqlstate = getattr(exc, "sqlstate", None)
        where = f"{script.path}:{line}"
        what = f"statement {stmt.index}" if stmt else phase
        after = f" after {retries} retries" if retries else ""
        if script.directives.transaction:
            state = "rolled back, nothing of this migration is applied"
        elif step.direction == "up" and stmt:
            state = (
                f"statements before {stmt.index} are applied and recorded; fix the cause and "
                f"rerun 'mapperdb migrate up' to resume at statement {stmt.index}"
            )
        else:
            state = "statements before it ran; the migration stays applied"
        hint = ""
        if sqlstate == "42501" and "must be owner" in first_line(exc):
            hint = (
                "; act as the objects' owner: `set local role mapper_owner` in a transactional "
                "file, `-- mapperdb:role mapper_owner` in the header of a no-transaction one"
            )
        return MigrationFailed(
            f"{where}: {what} failed{after}: {first_line(exc)}"
            f"{f' (SQLSTATE {sqlstate})' if sqlstate else ''}{hint}; {state}",
            path=script.path,
            line=line,
        )
