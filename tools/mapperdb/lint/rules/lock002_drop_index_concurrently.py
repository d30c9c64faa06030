"""LOCK002: an index of an existing table is dropped CONCURRENTLY."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import ObjectType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import strings
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS

INDEX = "create index orders_customer_idx on mapper.orders (customer_id);\n"


class DropIndexConcurrently(Rule):
    id = "LOCK002"
    name = "drop-index-concurrently"
    severity = Severity.ERROR
    node_types = (ast.DropStmt,)
    summary = "An index of an existing table is dropped without CONCURRENTLY."
    why = (
        "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table: it waits behind running queries "
        "and every query on the table queues behind it."
    )
    instead = (
        "Use DROP INDEX CONCURRENTLY in a migration whose first line is "
        "`-- mapperdb:no-transaction`."
    )
    bad = Example(setup=ORDERS + INDEX, sql="drop index mapper.orders_customer_idx;\n")
    good = Example(
        setup=ORDERS + INDEX,
        sql="-- mapperdb:no-transaction\ndrop index concurrently mapper.orders_customer_idx;\n",
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        if not isinstance(node, ast.DropStmt) or node.removeType != ObjectType.OBJECT_INDEX:
            return
        if node.concurrent:
            return
        for obj in node.objects or ():
            name = ".".join(strings(obj))
            index = ctx.schema.index(name)
            if (
                index is not None
                and ctx.existing(ctx.schema.table(index.table))
                and (
                    index.version is not None
                    and (ctx.file.version is None or index.version < ctx.file.version)
                )
            ):
                yield (
                    node,
                    f"index {name} of existing table {index.table} is dropped without CONCURRENTLY",
                )


RULE = DropIndexConcurrently()
