"""TEN006: partitions of tenant tables are granted to no role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import PARTITIONED, granted_tables


class NoPartitionGrants(Rule):
    id = "TEN006"
    name = "no-partition-grants"
    severity = Severity.ERROR
    node_types = (ast.GrantStmt,)
    summary = (
        "A GRANT reaches a partition of a tenant table (directly or through ALL TABLES IN SCHEMA)."
    )
    why = (
        "Row-level security is checked on the table a query names: a role that can select from a "
        "partition directly reads every tenant's rows in it, whatever the parent's policies say."
    )
    instead = (
        "Grant on the partitioned parent only, naming tables rather than `all tables in schema`; "
        "keep partitions owned by mapper_owner with no grants."
    )
    bad = Example(sql=PARTITIONED + "grant select on all tables in schema mapper to mapper_app;\n")
    good = Example(sql=PARTITIONED + "grant select on mapper.audit_records to mapper_app;\n")

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for node, name, grantees in granted_tables(ctx):
            table = ctx.schema.table(name)
            if table is None:
                continue
            root = ctx.schema.tenant_root(table)
            if root is not None:
                yield (
                    node,
                    (
                        f"grant to {', '.join(grantees)} reaches {table.name}, a partition of "
                        f"tenant table {root.name}: RLS does not apply to it"
                    ),
                )


RULE = NoPartitionGrants()
