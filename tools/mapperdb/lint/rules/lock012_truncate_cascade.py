"""LOCK012: no TRUNCATE ... CASCADE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import DropBehavior

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS


class TruncateCascade(Rule):
    id = "LOCK012"
    name = "truncate-cascade"
    severity = Severity.ERROR
    node_types = (ast.TruncateStmt,)
    summary = "TRUNCATE ... CASCADE."
    why = (
        "CASCADE also empties every table with a foreign key to the named ones, and theirs in "
        "turn, under ACCESS EXCLUSIVE locks: data the author did not name is lost."
    )
    instead = (
        "Name every table to empty explicitly, without CASCADE, so the statement fails if one "
        "is missed."
    )
    bad = Example(setup=ORDERS, sql="truncate mapper.orders cascade;\n")
    good = Example(setup=ORDERS, sql="truncate mapper.orders;\n")

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        if isinstance(node, ast.TruncateStmt) and node.behavior == DropBehavior.DROP_CASCADE:
            yield (
                node,
                "TRUNCATE ... CASCADE empties every table that references these, transitively",
            )


RULE = TruncateCascade()
