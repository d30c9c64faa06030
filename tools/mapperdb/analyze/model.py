"""The shape of an analyzer check, its context and the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg

from mapperdb.findings import Finding, Severity


@dataclass(frozen=True)
class Thresholds:
    """When a measurement becomes a finding. Defaults are documented in docs/operations.md."""

    # Statements: the top N by total time are listed; "slow" is a mean above this.
    top_statements: int = 10
    slow_mean_ms: float = 1.0
    # Index advice: reported only when the planner's estimated cost drops at least this much.
    advice_factor: float = 5.0
    # Unused indexes need statistics covering at least this long to be advice.
    min_history: timedelta = timedelta(days=7)
    # Bloat: estimated wasted share of a table or index above this, and at least this size.
    bloat_ratio: float = 0.5
    bloat_min_bytes: int = 8 * 1024 * 1024
    # Transaction ID age as a share of the 2^31 wraparound horizon: warning, then error.
    xid_warning: float = 0.5
    xid_error: float = 0.75
    # Sequences: used share of their range.
    sequence_warning: float = 0.75
    # Partitions: months that must exist ahead of now.
    months_ahead: int = 2
    # Retention: the purge job must have succeeded within this window.
    purge_overdue: timedelta = timedelta(hours=2)
    # Sessions idle in a transaction or blocked this long.
    idle_in_transaction: timedelta = timedelta(minutes=1)
    blocked: timedelta = timedelta(seconds=30)
    # Replica lag, in time (NULL while a replica is idle and caught up) or in WAL not replayed.
    replica_lag: timedelta = timedelta(seconds=30)
    replica_lag_bytes: int = 256 * 1024 * 1024


@dataclass
class Context:
    conn: psycopg.Connection[Any]
    database: str
    schema: str = "mapper"
    thresholds: Thresholds = field(default_factory=Thresholds)

    def rows(self, query: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        return self.conn.execute(query, params).fetchall()

    def has_extension(self, name: str) -> bool:
        return bool(self.rows("select 1 from pg_extension where extname = %s", (name,)))


@dataclass(frozen=True)
class Check:
    id: str
    name: str
    severity: Severity  # the default; a check may raise or lower it per finding
    summary: str
    why: str
    fix: str
    run: Callable[[Context], list[Finding]]

    def finding(
        self,
        obj: str,
        message: str,
        *,
        evidence: str,
        fix: str | None = None,
        severity: Severity | None = None,
        **extra: Any,
    ) -> Finding:
        """A finding on a database object (``file`` is the object's qualified name)."""
        return Finding(
            file=obj,
            line=0,
            column=0,
            rule=self.id,
            severity=severity or self.severity,
            message=f"{message}; evidence: {evidence}; fix: {fix or self.fix}",
            extra={"object": obj, "evidence": evidence, "fix": fix or self.fix, **extra},
        )


CHECKS: dict[str, Check] = {}


def check(
    id: str, name: str, severity: Severity, summary: str, *, why: str, fix: str
) -> Callable[[Callable[[Check, Context], list[Finding]]], Check]:
    """Register ``def run(check, ctx) -> list[Finding]`` as a check with its documentation."""

    def register(body: Callable[[Check, Context], list[Finding]]) -> Check:
        def run(ctx: Context) -> list[Finding]:
            return body(CHECKS[id], ctx)

        CHECKS[id] = Check(id, name, severity, summary, why, fix, run)
        return CHECKS[id]

    return register
