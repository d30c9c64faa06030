"""Statements from pg_stat_statements, and index advice verified with hypopg.

Advice is given only when the planner's estimated cost of a slow statement's generic plan drops
by at least ``Thresholds.advice_factor`` with a hypothetical index (hypopg: planned, never built),
and comes as a migration the SQL gate accepts."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pglast
import psycopg
from pglast import ast
from psycopg import sql

from mapperdb.analyze.model import Check, Context, check
from mapperdb.findings import Finding, Severity

# Statements that are not workload: transaction control, settings, DDL and maintenance, the
# analyzer's own catalog reads. Workload is what touches the platform's schema.
NOISE = re.compile(
    r"^\s*(begin|commit|rollback|savepoint|release|set|show|reset|discard|deallocate|prepare|"
    r"explain|listen|notify|vacuum|analyze|create|alter|drop|comment|grant|revoke|do|lock|"
    r"truncate|refresh|security|reindex|cluster)\b|pg_stat_|pg_catalog\.|hypopg|"
    r"information_schema",
    re.IGNORECASE,
)
STATEMENTS = """
select s.queryid, s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.rows,
    s.shared_blks_hit, s.shared_blks_read
from pg_stat_statements s
join pg_database d on d.oid = s.dbid
where d.datname = current_database() and s.toplevel
order by s.total_exec_time desc
"""
RANGE_OPS = frozenset({"<", ">", "<=", ">="})
# pg_stat_statements replaces the constant of a typed literal (interval '7 days') by a parameter,
# leaving "interval $3", which neither PREPARE nor the parser accepts; a cast means the same.
TYPED_LITERAL = re.compile(
    r"\b(interval|date|time|timestamp|timestamptz|numeric|uuid|json|jsonb|text)\s+\$(\d+)",
    re.IGNORECASE,
)


def plannable(query: str) -> str:
    """The normalized statement as PREPARE and the parser accept it (typed literals as casts)."""
    return TYPED_LITERAL.sub(r"$\2::\1", query)


@dataclass(frozen=True)
class Statement:
    queryid: int
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    hit: int
    read: int

    @property
    def hit_ratio(self) -> float:
        return self.hit / (self.hit + self.read) if self.hit + self.read else 1.0

    @property
    def evidence(self) -> str:
        return (
            f"calls={self.calls}, total={self.total_ms:.1f} ms, mean={self.mean_ms:.2f} ms, "
            f"rows={self.rows}, cache hit={self.hit_ratio:.1%}"
        )

    @property
    def short(self) -> str:
        text = " ".join(self.query.split())
        return text if len(text) <= 160 else text[:157] + "..."


def workload(ctx: Context) -> list[Statement]:
    """The database's statements by total time, without noise; empty without the extension."""
    if not ctx.has_extension("pg_stat_statements"):
        return []
    found = [Statement(*row) for row in ctx.rows(STATEMENTS)]
    mine = re.compile(rf"\b{re.escape(ctx.schema)}\.", re.IGNORECASE)
    return [s for s in found if mine.search(s.query) and not NOISE.search(s.query)][
        : ctx.thresholds.top_statements * 5
    ]


@check(
    "AN001",
    "top-statements",
    Severity.INFO,
    "The statements that cost the most time, and the slow ones",
    why="Total time says where the server's time goes; a high mean says what users wait for. "
    "The cache hit ratio shows statements that read from disk.",
    fix="Look at the plan (EXPLAIN (ANALYZE, BUFFERS)) of the statement; see AN002 for indexes.",
)
def top_statements(self: Check, ctx: Context) -> list[Finding]:
    if not ctx.has_extension("pg_stat_statements"):
        return [
            self.finding(
                ctx.database,
                "pg_stat_statements is not installed in this database",
                evidence="no row in pg_extension",
                fix="create extension pg_stat_statements (allow-listed; preloaded on Azure)",
            )
        ]
    slow = ctx.thresholds.slow_mean_ms
    return [
        self.finding(
            f"statement {s.queryid}",
            f"{'slow' if s.mean_ms >= slow else 'top'} statement: {s.short}",
            evidence=s.evidence,
            severity=Severity.WARNING if s.mean_ms >= slow and s.calls > 1 else Severity.INFO,
            query=s.query,
        )
        for s in workload(ctx)[: ctx.thresholds.top_statements]
    ]


# -- index advice ------------------------------------------------------------------------------


def _column(node: Any) -> tuple[str | None, str] | None:
    """``(qualifier, column)`` of a column reference, through a cast."""
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.ColumnRef):
        return None
    names: list[str] = [f.sval for f in node.fields or () if isinstance(f, ast.String) and f.sval]
    if not names:
        return None
    return (names[-2] if len(names) > 1 else None, names[-1])


def _predicates(tree: Any) -> tuple[list[tuple[str | None, str]], list[tuple[str | None, str]]]:
    """The columns a statement compares for equality, and those it compares as a range."""
    equal: list[tuple[str | None, str]] = []
    ranged: list[tuple[str | None, str]] = []
    for node in _walk(tree):
        if not isinstance(node, ast.A_Expr):
            continue
        expr: Any = node
        op = expr.name[-1].sval if expr.name else ""
        kind = expr.kind.name if expr.kind is not None else ""
        for side in (expr.lexpr, expr.rexpr):
            column = _column(side)
            if column is None:
                continue
            if op == "=" or kind == "AEXPR_IN":
                equal.append(column)
            elif op in RANGE_OPS or kind == "AEXPR_BETWEEN":
                ranged.append(column)
    return equal, ranged


def _relations(tree: Any, schema: str) -> dict[str, str]:
    """alias or name -> table name, for tables of ``schema`` the statement reads."""
    found: dict[str, str] = {}
    for node in _walk(tree):
        if isinstance(node, ast.RangeVar) and node.schemaname == schema:
            var: Any = node
            found[var.relname] = var.relname
            if var.alias is not None:
                found[var.alias.aliasname] = var.relname
    return found


def _walk(node: Any) -> list[Any]:
    out: list[Any] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, tuple | list):
            stack.extend(current)
        elif isinstance(current, ast.Node):
            out.append(current)
            stack.extend(getattr(current, name) for name in current)
    return out


def candidates(query: str, ctx: Context) -> dict[str, list[tuple[str, ...]]]:
    """Per table, the column lists worth trying: equality columns first (tenant_id leading when
    the table has it: row-level security adds that equality), then one range column."""
    try:
        tree = pglast.parse_sql(plannable(query))
    except pglast.parser.ParseError:
        return {}
    if len(tree) != 1 or not isinstance(
        tree[0].stmt, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt
    ):
        return {}
    tables = _relations(tree, ctx.schema)
    if not tables:
        return {}
    equal_refs, range_refs = _predicates(tree)
    result: dict[str, list[tuple[str, ...]]] = {}
    for table in set(tables.values()):
        columns = table_columns(ctx, table)

        def mine(
            refs: list[tuple[str | None, str]], table: str = table, columns: set[str] = columns
        ) -> list[str]:
            cols = [c for q, c in refs if (q is None or tables.get(q) == table)]
            return list(dict.fromkeys(c for c in cols if c in columns))

        equal, ranged = mine(equal_refs), mine(range_refs)
        # With and without tenant_id leading: whether the planner can use the tenant's
        # equality depends on the policy's shape, so both are tried and the cheaper wins.
        leads = [["tenant_id"], []] if "tenant_id" in columns and "tenant_id" not in equal else [[]]
        options = [
            option
            for lead in leads
            for option in (
                (*lead, *equal, *ranged[:1]),
                (*lead, *equal),
                *((*lead, column) for column in equal),
                *((*lead, column) for column in ranged[:1]),
            )
            if option and list(option) != lead
        ]
        wanted = list(dict.fromkeys(options))
        if wanted:
            result[table] = wanted
    return result


def table_columns(ctx: Context, table: str) -> set[str]:
    return {
        row[0]
        for row in ctx.rows(
            "select attname from pg_attribute where attrelid = to_regclass(%s)"
            " and attnum > 0 and not attisdropped",
            (f"{ctx.schema}.{table}",),
        )
    }


def leaves(ctx: Context, table: str) -> list[str]:
    """The table's leaf partitions (the table itself when it is not partitioned)."""
    return [
        row[0]
        for row in ctx.rows(
            "select relid::regclass::text from pg_partition_tree(to_regclass(%s)) where isleaf",
            (f"{ctx.schema}.{table}",),
        )
    ]


def generic_cost(ctx: Context, query: str) -> float | None:
    """The estimated total cost of the statement's generic plan (parameters unknown), or None
    when it cannot be planned here (types not inferable, no privilege)."""
    query = plannable(query)
    params = max((int(n) for n in re.findall(r"\$(\d+)", query)), default=0)
    conn = ctx.conn
    # PREPARE outlives a rolled-back transaction: drop a leftover of an earlier failure first.
    if ctx.rows("select 1 from pg_prepared_statements where name = 'mapperdb_analyze'"):
        conn.execute("deallocate mapperdb_analyze")
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("set local plan_cache_mode = force_generic_plan")
            conn.execute(sql.SQL("prepare mapperdb_analyze as {}").format(sql.SQL(query)))
            args = sql.SQL(", ").join([sql.NULL] * params)
            plan = conn.execute(
                sql.SQL("explain (format json) execute mapperdb_analyze")
                + (sql.SQL("({})").format(args) if params else sql.SQL(""))
            ).fetchone()
            conn.execute("deallocate mapperdb_analyze")
    except psycopg.Error:
        return None  # not plannable here (types not inferable, no privilege): skipped
    assert plan is not None
    document = plan[0] if isinstance(plan[0], list) else json.loads(plan[0])
    return float(document[0]["Plan"]["Total Cost"])


@dataclass(frozen=True)
class Advice:
    table: str
    columns: tuple[str, ...]
    before: float
    after: float
    statement: Statement

    @property
    def factor(self) -> float:
        return self.before / max(self.after, 0.01)

    @property
    def name(self) -> str:
        return index_name(self.table, self.columns)


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """``<table>_<cols>_idx`` within PostgreSQL's 63 bytes (a hash keeps shortened names apart)."""
    name = f"{table}_{'_'.join(columns)}_idx"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:50]}_{digest}_idx"


def try_candidates(ctx: Context, stmt: Statement) -> Advice | None:
    before = generic_cost(ctx, stmt.query)
    if before is None:
        return None
    best: Advice | None = None
    for table, options in candidates(stmt.query, ctx).items():
        parts = leaves(ctx, table)
        for columns in options:
            if _covered(ctx, table, columns):
                continue
            cols = ", ".join(columns)
            for part in parts:
                ctx.conn.execute(
                    "select * from hypopg_create_index(%s)",
                    (f"create index on {part} ({cols})",),
                )
            after = generic_cost(ctx, stmt.query)
            ctx.conn.execute("select hypopg_reset()")
            if after is not None and (best is None or after < best.after):
                best = Advice(table, columns, before, after, stmt)
    return best


def _covered(ctx: Context, table: str, columns: tuple[str, ...]) -> bool:
    """An existing index already leads with these columns."""
    for (keys,) in ctx.rows(
        "select array(select a.attname from unnest(i.indkey) with ordinality k(attnum, n)"
        " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.n)"
        " from pg_index i where i.indrelid = to_regclass(%s) and i.indpred is null",
        (f"{ctx.schema}.{table}",),
    ):
        if tuple(keys[: len(columns)]) == columns:
            return True
    return False


def migration(ctx: Context, advice: Advice) -> tuple[str, str]:
    """The up and down files of a migration adding the advised index without long locks: on a
    partitioned table the parent's index ONLY, each partition's concurrently, then attached."""
    table = f"{ctx.schema}.{advice.table}"
    cols = ", ".join(advice.columns)
    header = (
        "-- mapperdb:no-transaction\n"
        "-- mapperdb:role mapper_owner\n"
        f"-- Index advised by mapperdb analyze for: {advice.statement.short}\n"
        f"-- Estimated cost of its generic plan {advice.before:.0f} -> {advice.after:.0f} "
        f"({advice.factor:.0f}x), verified with a hypothetical index (hypopg).\n"
    )
    parts = [p for p in leaves(ctx, advice.table) if p != table]
    if not parts:
        up = (
            header
            + f"create index concurrently if not exists {advice.name}\non {table} ({cols});\n"
        )
        down = (
            "-- mapperdb:no-transaction\n-- mapperdb:role mapper_owner\n"
            "-- Reverses the advised index.\n"
            f"drop index concurrently if exists {ctx.schema}.{advice.name};\n"
        )
        return up, down
    lines = [header, f"create index if not exists {advice.name}\non only {table} ({cols});\n"]
    for part in parts:
        part_index = index_name(part.split(".")[-1], advice.columns)
        lines.append(
            f"create index concurrently if not exists {part_index}\non {part} ({cols});\n"
            f"alter index {ctx.schema}.{advice.name}\nattach partition {ctx.schema}.{part_index};\n"
        )
    down = (
        "-- mapperdb:role mapper_owner\n"
        "-- Reverses the advised index (dropping the parent's drops every partition's).\n"
        f"drop index if exists {ctx.schema}.{advice.name};\n"
    )
    return "".join(lines), down


@check(
    "AN002",
    "index-advice",
    Severity.WARNING,
    "A slow statement would be much cheaper with an index",
    why="A sequential scan of a growing table makes a statement slower every day. Each advice "
    "was tried: the planner's estimated cost of the statement's generic plan dropped by the "
    "stated factor with a hypothetical index (hypopg), on this database's statistics.",
    fix="Add the index with the migration given (create index concurrently; on a partitioned "
    "table per partition, then attached), and check the plan after.",
)
def index_advice(self: Check, ctx: Context) -> list[Finding]:
    slow = [s for s in workload(ctx) if s.mean_ms >= ctx.thresholds.slow_mean_ms]
    if not slow:
        return []
    if ctx.has_extension("hypopg"):
        return _advise(self, ctx, slow)
    # Verified advice needs hypopg: a login allowed to create it (Azure's admin group) gets it
    # for the length of the analysis only; the transaction is rolled back.
    with ctx.conn.transaction(force_rollback=True):
        try:
            with ctx.conn.transaction():
                ctx.conn.execute("create extension hypopg")
        except psycopg.Error as exc:
            return [
                self.finding(
                    ctx.database,
                    "index advice needs hypopg in this database",
                    evidence=f"{len(slow)} slow statements; create extension hypopg failed: "
                    f"{(exc.diag.message_primary or '').strip()}",
                    fix="create extension hypopg (allow-listed) as the admin, or run analyze "
                    "as a member of azure_pg_admin",
                    severity=Severity.INFO,
                )
            ]
        return _advise(self, ctx, slow)


def _advise(self: Check, ctx: Context, slow: list[Statement]) -> list[Finding]:
    found = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    unplannable = []
    for stmt in slow[: ctx.thresholds.top_statements]:
        if generic_cost(ctx, stmt.query) is None:
            unplannable.append(stmt)
            continue
        advice = try_candidates(ctx, stmt)
        if advice is None or advice.factor < ctx.thresholds.advice_factor:
            continue
        if (advice.table, advice.columns) in seen:
            continue
        seen.add((advice.table, advice.columns))
        up, down = migration(ctx, advice)
        found.append(
            self.finding(
                f"{ctx.schema}.{advice.table}",
                f"index ({', '.join(advice.columns)}) for: {advice.statement.short}",
                evidence=f"estimated cost {advice.before:.0f} -> {advice.after:.0f} "
                f"({advice.factor:.0f}x, threshold {ctx.thresholds.advice_factor:g}x); "
                + advice.statement.evidence,
                fix=f"add migration NNNN_{advice.name}.up.sql (given in the JSON and Markdown "
                "reports)",
                migration_up=up,
                migration_down=down,
                index=advice.name,
            )
        )
    if unplannable:
        found.append(
            self.finding(
                ctx.database,
                f"{len(unplannable)} slow statement(s) cannot be planned as this login, so they "
                "got no index advice",
                evidence="; ".join(s.short for s in unplannable[:3]),
                fix="run analyze as a login that may read the tables (a member of "
                "mapper_readonly) and execute what the statements call",
                severity=Severity.INFO,
            )
        )
    return found
