"""Run every registered check on one connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mapperdb.analyze import indexes, partitions, security, sessions, statements, vacuum
from mapperdb.analyze.model import CHECKS, Check, Context, Thresholds
from mapperdb.findings import Finding, Severity

# The modules whose import registers the checks, in report order.
MODULES = (statements, indexes, vacuum, partitions, security, sessions)


@dataclass
class Report:
    database: str
    server_version: str
    user: str
    findings: list[Finding] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # check id -> why it could not run

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def analyze(
    conn: psycopg.Connection[Any],
    *,
    schema: str = "mapper",
    thresholds: Thresholds | None = None,
    progress: Callable[[Check], None] | None = None,
) -> Report:
    """Every check, in id order; a check that cannot run (privileges, a missing view) is reported
    as a warning of its own instead of stopping the others."""
    info = conn.execute(
        "select current_database(), current_setting('server_version'), current_user"
    )
    database, version, user = info.fetchone() or ("?", "?", "?")
    ctx = Context(conn, database, schema, thresholds or Thresholds())
    report = Report(database, version, user)
    for check in sorted(CHECKS.values(), key=lambda c: c.id):
        if progress is not None:
            progress(check)
        try:
            report.findings.extend(check.run(ctx))
        except psycopg.Error as exc:
            if not conn.autocommit:
                conn.rollback()
            reason = (exc.diag.message_primary or str(exc)).strip()
            report.failed[check.id] = reason
            report.findings.append(
                check.finding(
                    database,
                    f"{check.id} could not run as {user}: {reason}",
                    evidence=f"SQLSTATE {exc.sqlstate}",
                    fix="run analyze as a login that is a member of pg_monitor and mapper_readonly",
                    severity=Severity.WARNING,
                )
            )
    return report
