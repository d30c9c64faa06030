"""LOCK016: no CREATE INDEX CONCURRENTLY on a partitioned table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import PARTITIONED

NO_TRANSACTION = "-- mapperdb:no-transaction\n"


class ConcurrentIndexOnPartitioned(Rule):
    id = "LOCK016"
    name = "concurrent-index-on-partitioned"
    severity = Severity.ERROR
    node_types = (ast.IndexStmt,)
    summary = "CREATE INDEX CONCURRENTLY on a partitioned table."
    why = (
        "PostgreSQL (up to 17) cannot build an index on a partitioned table concurrently: the "
        "statement fails when the migration is applied (`cannot create index on partitioned "
        "table ... concurrently`), after review and after the migrations before it ran. Dropping "
        "CONCURRENTLY instead locks every partition against writes for the whole build."
    )
    instead = (
        "Create the index ON ONLY the parent (instant, the index starts invalid), build the same "
        "index CONCURRENTLY on each partition, then `alter index <parent index> attach partition "
        "<partition index>` for each one; the parent's index becomes valid once every partition "
        "has one attached. All in a `-- mapperdb:no-transaction` migration, each statement "
        "written to run twice (`if not exists`)."
    )
    bad = Example(
        setup=PARTITIONED,
        sql=NO_TRANSACTION + "create index concurrently audit_records_at_idx\n"
        "    on mapper.audit_records (tenant_id, at);\n",
    )
    good = Example(
        setup=PARTITIONED,
        sql=NO_TRANSACTION + "create index if not exists audit_records_at_idx\n"
        "    on only mapper.audit_records (tenant_id, at);\n"
        "create index concurrently if not exists audit_records_2026_01_at_idx\n"
        "    on mapper.audit_records_2026_01 (tenant_id, at);\n"
        "alter index mapper.audit_records_at_idx\n"
        "    attach partition mapper.audit_records_2026_01_at_idx;\n",
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        if not isinstance(node, ast.IndexStmt) or not node.concurrent:
            return
        table = ctx.schema.table(node.relation)
        if table is not None and table.partitioned:
            yield (
                node.relation,
                f"{table.name} is partitioned: PostgreSQL cannot index it concurrently; create "
                "the index on ONLY the parent, concurrently on each partition, then attach them",
            )


RULE = ConcurrentIndexOnPartitioned()
