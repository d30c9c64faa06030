"""LOCK011: CONCURRENTLY only in a migration that runs outside a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import option_true
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import CONCURRENT_INDEX, ORDERS


def _concurrent(node: Any) -> bool:
    if isinstance(node, ast.IndexStmt | ast.DropStmt):
        return bool(node.concurrent)
    if isinstance(node, ast.ReindexStmt):
        return bool(option_true(node.params, "concurrently"))
    if isinstance(node, ast.AlterTableStmt):
        return any(
            cmd.subtype == AlterTableType.AT_DetachPartition and cmd.def_.concurrent
            for cmd in node.cmds or ()
        )
    return False


class ConcurrentlyInTransaction(Rule):
    id = "LOCK011"
    name = "concurrently-in-transaction"
    severity = Severity.ERROR
    node_types = (ast.IndexStmt, ast.DropStmt, ast.ReindexStmt, ast.AlterTableStmt)
    summary = "CONCURRENTLY in a migration that runs inside a transaction."
    why = (
        "CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and DETACH PARTITION CONCURRENTLY "
        "cannot run in a transaction block: the migration fails when it is applied."
    )
    instead = (
        "Put the statement in its own migration whose first line is `-- mapperdb:no-transaction`; "
        "the runner then executes it in autocommit."
    )
    bad = Example(
        setup=ORDERS,
        sql="create index concurrently orders_customer_idx on mapper.orders (customer_id);\n",
    )
    good = Example(setup=ORDERS, sql=CONCURRENT_INDEX)

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        if not ctx.file.no_transaction and _concurrent(ctx.node):
            yield (
                ctx.node,
                (
                    "CONCURRENTLY cannot run inside a transaction; start the file with "
                    "`-- mapperdb:no-transaction`"
                ),
            )


RULE = ConcurrentlyInTransaction()
