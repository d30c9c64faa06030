"""LOCK001: an index on an existing table is built CONCURRENTLY."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import CONCURRENT_INDEX, ORDERS


class CreateIndexConcurrently(Rule):
    id = "LOCK001"
    name = "create-index-concurrently"
    severity = Severity.ERROR
    node_types = (ast.IndexStmt,)
    summary = "An index on an existing table is created without CONCURRENTLY."
    why = (
        "CREATE INDEX takes a SHARE lock on the table for the whole build: every insert, update "
        "and delete waits, for minutes on a large table."
    )
    instead = (
        "Use CREATE INDEX CONCURRENTLY in a migration whose first line is "
        "`-- mapperdb:no-transaction`. On a partitioned table, create the index ON ONLY the "
        "parent, build each partition's index concurrently, then ATTACH PARTITION each one."
    )
    bad = Example(
        setup=ORDERS, sql="create index orders_customer_idx on mapper.orders (customer_id);\n"
    )
    good = Example(setup=ORDERS, sql=CONCURRENT_INDEX)

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        if not isinstance(node, ast.IndexStmt) or node.concurrent:
            return
        table = ctx.schema.table(node.relation)
        if not ctx.existing(table):
            return
        assert table is not None
        if table.partitioned and node.relation is not None and not node.relation.inh:
            return  # ON ONLY the parent: instant, the partitions' indexes are attached later
        yield node.relation, f"index on existing table {table.name} is built without CONCURRENTLY"


RULE = CreateIndexConcurrently()
