"""Indexes that cost writes and space for nothing, and foreign keys without one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mapperdb.analyze.model import Check, Context, check
from mapperdb.findings import Finding, Severity

# Every index of the schema's tables with its key columns, predicate, and whether it backs a
# constraint; partition indexes roll up into their parent index (scans summed).
INDEXES = """
with recursive idx as (
    select i.indexrelid, i.indrelid, i.indisunique, i.indkey::int2[] as keys,
        coalesce(pg_get_expr(i.indexprs, i.indrelid), '') as exprs,
        coalesce(pg_get_expr(i.indpred, i.indrelid), '') as pred,
        i.indclass::oid[] as opclasses,
        exists (select from pg_constraint c where c.conindid = i.indexrelid) as backs_constraint
    from pg_index i join pg_class t on t.oid = i.indrelid
    where t.relnamespace = to_regnamespace(%(schema)s) and not t.relispartition
),
tree as (
    select indexrelid as root, indexrelid as member from idx
    union all
    select tree.root, inh.inhrelid from tree join pg_inherits inh on inh.inhparent = tree.member
)
select idx.indexrelid::regclass::text, idx.indrelid::regclass::text, idx.indisunique,
    array(select a.attname::text from unnest(idx.keys) with ordinality k(attnum, n)
          join pg_attribute a on a.attrelid = idx.indrelid and a.attnum = k.attnum
          order by k.n) as columns,
    idx.exprs, idx.pred, idx.opclasses, idx.backs_constraint,
    (select coalesce(sum(s.idx_scan), 0) from tree
     join pg_stat_all_indexes s on s.indexrelid = tree.member where tree.root = idx.indexrelid),
    (select coalesce(sum(pg_relation_size(tree.member)), 0) from tree
     where tree.root = idx.indexrelid)
from idx
order by 1
"""


def _indexes(ctx: Context) -> list[Any]:
    return ctx.rows(INDEXES, {"schema": ctx.schema})


def _stats_since(ctx: Context) -> datetime:
    row = ctx.rows(
        "select coalesce(stats_reset, pg_postmaster_start_time()) from pg_stat_database"
        " where datname = current_database()"
    )
    since: datetime = row[0][0] if row and row[0][0] else datetime.now(UTC)
    return since


@check(
    "AN003",
    "unused-index",
    Severity.WARNING,
    "An index no statement has used since the statistics were reset",
    why="Every write maintains every index: an unused one slows inserts and updates, holds "
    "memory and disk, and lengthens vacuum. Indexes that back a constraint are never listed.",
    fix="Confirm on the replicas too (their scans are counted there), then drop it in a "
    "migration: drop index concurrently.",
)
def unused(self: Check, ctx: Context) -> list[Finding]:
    since = _stats_since(ctx)
    history = datetime.now(UTC) - since
    enough = history >= ctx.thresholds.min_history
    found = []
    for name, table, unique, columns, exprs, _pred, _ops, backs, scans, size in _indexes(ctx):
        if backs or unique or scans:
            continue
        found.append(
            self.finding(
                str(name),
                f"index on {table} ({', '.join(map(str, columns)) or exprs}) has no scans",
                evidence=f"idx_scan=0 since {since:%Y-%m-%d %H:%M} UTC ({_human(history)}), "
                f"size {int(size) // 1024} kB"
                + ("" if enough else f"; less history than {_human(ctx.thresholds.min_history)}"),
                severity=Severity.WARNING if enough else Severity.INFO,
            )
        )
    return found


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400} d"
    if seconds >= 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


@check(
    "AN004",
    "duplicate-index",
    Severity.WARNING,
    "Two indexes with the same columns, expressions, operator classes and predicate",
    why="A duplicate doubles the write cost and the space of one index and helps no query.",
    fix="Drop one of them (keep the one that backs a constraint, if any).",
)
def duplicate(self: Check, ctx: Context) -> list[Finding]:
    seen: dict[tuple[Any, ...], str] = {}
    found = []
    for name, table, _unique, columns, exprs, pred, ops, backs, _scans, _size in _indexes(ctx):
        key = (table, tuple(columns), exprs, pred, tuple(ops))
        if key in seen:
            keep, drop = (name, seen[key]) if backs else (seen[key], name)
            found.append(
                self.finding(
                    str(drop),
                    f"duplicates {keep} on {table}",
                    evidence=f"same columns ({', '.join(map(str, columns))}), expressions, "
                    "operator classes and predicate",
                    fix=f"drop index concurrently {drop}",
                )
            )
        else:
            seen[key] = str(name)
    return found


@check(
    "AN005",
    "redundant-index",
    Severity.INFO,
    "An index whose columns lead another index of the same table",
    why="A btree on (a) is served by a btree on (a, b): the shorter one costs writes and space "
    "for little gain, unless it is unique or much smaller for a hot query.",
    fix="Drop the shorter index unless a plan needs its size; check the statements first.",
)
def redundant(self: Check, ctx: Context) -> list[Finding]:
    rows = [r for r in _indexes(ctx) if not r[4]]  # column indexes only
    found = []
    for name, table, unique, columns, _e, pred, _ops, backs, _s, _size in rows:
        if unique or backs:
            continue
        for other, table2, _u, columns2, _e2, pred2, _o2, _b2, _s2, _z2 in rows:
            if (
                other != name
                and table2 == table
                and pred2 == pred
                and len(columns2) > len(columns)
                and list(columns2[: len(columns)]) == list(columns)
            ):
                found.append(
                    self.finding(
                        str(name),
                        f"({', '.join(map(str, columns))}) leads {other} "
                        f"({', '.join(map(str, columns2))})",
                        evidence=f"both on {table}, same predicate",
                    )
                )
                break
    return found


FOREIGN_KEYS = """
select c.conname, c.conrelid::regclass::text,
    array(select a.attname::text from unnest(c.conkey) k(attnum)
          join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum),
    exists (
        select from pg_index i
        where i.indrelid = c.conrelid
          and (select array_agg(x order by x) from unnest(c.conkey) x)
            = (select array_agg(x order by x)
               from unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) x)
    )
from pg_constraint c join pg_class t on t.oid = c.conrelid
where c.contype = 'f' and c.connamespace = to_regnamespace(%(schema)s) and not t.relispartition
order by 1
"""


@check(
    "AN006",
    "foreign-key-without-index",
    Severity.WARNING,
    "A foreign key whose columns do not lead any index of the referencing table",
    why="Deleting or updating a referenced row scans the whole referencing table for each row, "
    "under a lock; joins on the key cannot use an index.",
    fix="Add an index whose leading columns are the foreign key's (create index concurrently).",
)
def foreign_keys(self: Check, ctx: Context) -> list[Finding]:
    return [
        self.finding(
            f"{table}.{name}",
            f"foreign key ({', '.join(columns)}) of {table} has no supporting index",
            evidence="no index of the table leads with these columns",
            fix=f"create index concurrently on {table} ({', '.join(columns)})",
        )
        for name, table, columns, supported in ctx.rows(FOREIGN_KEYS, {"schema": ctx.schema})
        if not supported
    ]
