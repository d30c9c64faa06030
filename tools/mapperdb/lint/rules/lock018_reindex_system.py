"""LOCK018: no REINDEX SYSTEM in a migration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import ReindexObjectType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS

SYSTEM = ReindexObjectType.REINDEX_OBJECT_SYSTEM


class ReindexSystem(Rule):
    id = "LOCK018"
    name = "no-reindex-system"
    severity = Severity.ERROR
    node_types = (ast.ReindexStmt,)
    summary = "REINDEX SYSTEM in a migration."
    why = (
        "REINDEX SYSTEM rebuilds every index of the system catalogs, one after another, each "
        "under an exclusive lock: every session of the database stalls on its next catalog "
        "lookup. It cannot run concurrently, cannot run inside a transaction, and on Azure "
        "the server admin does not own the catalogs, so it fails after the migrations before it."
    )
    instead = (
        "Leave catalog maintenance to operations (it is almost never needed: autovacuum keeps "
        "catalogs healthy); rebuild an index of your own with REINDEX INDEX CONCURRENTLY in a "
        "`-- mapperdb:no-transaction` migration."
    )
    bad = Example(sql="-- mapperdb:no-transaction\nreindex system;\n")
    good = Example(
        setup=ORDERS,
        sql="-- mapperdb:no-transaction\nreindex index concurrently mapper.orders_pkey;\n",
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        if (
            isinstance(node, ast.ReindexStmt)
            and node.kind == ReindexObjectType.REINDEX_OBJECT_SYSTEM
        ):
            yield (
                node,
                "REINDEX SYSTEM locks every system catalog index in turn and stalls every "
                "session; leave catalog maintenance to operations",
            )


RULE = ReindexSystem()
