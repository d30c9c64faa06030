"""LOCK015: partitions of an existing table are detached CONCURRENTLY."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import PARTITIONED, altered_existing

DETACH = "alter table mapper.audit_records detach partition mapper.audit_records_2026_01"


class DetachPartitionConcurrently(Rule):
    id = "LOCK015"
    name = "detach-partition-concurrently"
    severity = Severity.WARNING
    node_types = (ast.AlterTableStmt,)
    summary = "A partition of an existing table is detached without CONCURRENTLY."
    why = (
        "A plain DETACH PARTITION takes an ACCESS EXCLUSIVE lock on the parent: it queues behind "
        "every running query on any partition, and every query on the table queues behind it."
    )
    instead = (
        "`detach partition ... concurrently` (PostgreSQL 14+) in a migration whose first line is "
        "`-- mapperdb:no-transaction`; it takes only SHARE UPDATE EXCLUSIVE on the parent."
    )
    bad = Example(setup=PARTITIONED, sql=DETACH + ";\n")
    good = Example(
        setup=PARTITIONED, sql="-- mapperdb:no-transaction\n" + DETACH + " concurrently;\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if cmd.subtype == AlterTableType.AT_DetachPartition and not cmd.def_.concurrent:
                yield (
                    cmd,
                    (
                        f"DETACH PARTITION without CONCURRENTLY locks all of {table.name} "
                        "(ACCESS EXCLUSIVE)"
                    ),
                )


RULE = DetachPartitionConcurrently()
