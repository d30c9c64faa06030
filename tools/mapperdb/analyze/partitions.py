"""Partition health: months missing ahead, rows waiting in a default partition, retention."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import psycopg

from mapperdb.analyze.model import Check, Context, check
from mapperdb.findings import Finding, Severity

# Range-partitioned tables of the schema and each partition's bounds as the server prints them.
PARTITIONS = """
select p.partrelid::regclass::text, c.oid::regclass::text,
    pg_get_expr(c.relpartbound, c.oid), c.reltuples, s.n_live_tup
from pg_partitioned_table p
join pg_class t on t.oid = p.partrelid
join pg_inherits i on i.inhparent = p.partrelid
join pg_class c on c.oid = i.inhrelid
left join pg_stat_all_tables s on s.relid = c.oid
where t.relnamespace = to_regnamespace(%(schema)s) and p.partstrat = 'r'
order by 1, 2
"""
BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


def _months_ahead(now: datetime, count: int) -> list[datetime]:
    months = []
    year, month = now.year, now.month
    for _ in range(count + 1):
        months.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _parse(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None  # MINVALUE/MAXVALUE, or a key that is not a time
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@check(
    "AN012",
    "partitions-missing",
    Severity.WARNING,
    "A time-partitioned table lacks the partition of this month or of the months ahead",
    why="Rows for a month without its partition land in the default partition, where every "
    "query scans them and from where maintenance must move them; a missing current month means "
    "maintenance (mapper.maintain_partitions, pg_cron) is not running.",
    fix="select * from mapper.maintain_partitions() as the admin; check the pg_cron job "
    "mapper_maintain_partitions and the maintenance log.",
)
def missing(self: Check, ctx: Context) -> list[Finding]:
    now = datetime.now(UTC)
    covered: dict[str, list[tuple[datetime, datetime]]] = {}
    for parent, _child, bound, _rows, _live in ctx.rows(PARTITIONS, {"schema": ctx.schema}):
        covered.setdefault(parent, [])
        match = BOUNDS.search(bound or "")
        if match:
            low, high = _parse(match.group(1)), _parse(match.group(2))
            if low and high:
                covered[parent].append((low, high))
    found = []
    for parent, ranges in covered.items():
        if not ranges:
            continue  # not partitioned by time
        gaps = [
            month
            for month in _months_ahead(now, ctx.thresholds.months_ahead)
            if not any(low <= month < high for low, high in ranges)
        ]
        if gaps:
            current = gaps[0].year == now.year and gaps[0].month == now.month
            found.append(
                self.finding(
                    parent,
                    f"{parent} has no partition for " + ", ".join(f"{m:%Y-%m}" for m in gaps),
                    evidence=f"{len(ranges)} range partitions; checked this month and "
                    f"{ctx.thresholds.months_ahead} ahead",
                    severity=Severity.ERROR if current else Severity.WARNING,
                )
            )
    return found


@check(
    "AN013",
    "rows-in-default-partition",
    Severity.WARNING,
    "Rows wait in a default partition",
    why="Every query of the table scans the default partition, and creating any partition of "
    "the table scans it under an access exclusive lock that blocks every tenant. Maintenance "
    "keeps it empty (older rows go to <table>_before): rows there mean a month of the last 12 "
    "lacks its partition, or rows outside the time window.",
    fix="select * from mapper.maintain_partitions() makes the missing months and moves their "
    "rows; rows it cannot place are counted per table in mapper.maintenance_log (status "
    "outside).",
)
def in_default(self: Check, ctx: Context) -> list[Finding]:
    found = []
    for parent, child, bound, rows, live in ctx.rows(PARTITIONS, {"schema": ctx.schema}):
        count = max(int(rows or 0), int(live or 0))
        if bound == "DEFAULT" and count > 0:
            found.append(
                self.finding(
                    child,
                    f"about {count} rows of {parent} are in its default partition",
                    evidence=f"reltuples={rows:.0f}, n_live_tup={live}",
                )
            )
    return found


@check(
    "AN014",
    "retention-overdue",
    Severity.WARNING,
    "The retention purge has not succeeded recently",
    why="Data kept past its tenant's retention breaks the promise made to the tenant (and the "
    "compliance controls that rely on it), and grows the tables.",
    fix="Look at cron.job_run_details for mapper_purge_expired; run "
    "select * from mapper.purge_expired() as the admin.",
)
def retention(self: Check, ctx: Context) -> list[Finding]:
    if not ctx.rows("select 1 from pg_namespace where nspname = 'cron'"):
        return []
    try:
        jobs = ctx.rows(
            "select j.jobid, j.jobname, max(d.end_time) filter (where d.status = 'succeeded')"
            " from cron.job j left join cron.job_run_details d on d.jobid = j.jobid"
            " where j.jobname = 'mapper_purge_expired' and j.database = current_database()"
            " group by 1, 2"
        )
    except psycopg.errors.InsufficientPrivilege:
        return []  # cron's tables are not this login's to read: nothing to say
    now = datetime.now(UTC)
    found = []
    for _jobid, name, last in jobs:
        if last is None or now - last > ctx.thresholds.purge_overdue:
            found.append(
                self.finding(
                    f"cron job {name}",
                    f"the retention purge has not succeeded within {ctx.thresholds.purge_overdue}",
                    evidence=f"last success: {f'{last:%Y-%m-%d %H:%M} UTC' if last else 'never'}",
                    # Never run yet is a new database as often as a broken job: said, not raised.
                    severity=Severity.INFO if last is None else Severity.WARNING,
                )
            )
    return found
