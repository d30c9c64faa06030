"""LOCK009: no column or table of an existing table is dropped in an up migration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ObjectType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import strings
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, altered_existing


class Drop(Rule):
    id = "LOCK009"
    name = "drop-column-or-table"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt, ast.DropStmt)
    summary = "A column or table that an earlier migration created is dropped."
    why = (
        "Running application code still reads and writes it: the deploy that drops it breaks "
        "every instance not yet upgraded, and the data is gone with no down that can restore it. "
        "The drop also waits for an ACCESS EXCLUSIVE lock."
    )
    instead = (
        "Stop using the column or table in the application first, ship that, then drop it in a "
        "later migration with a suppression that says why it is safe now. Down migrations may drop "
        "what their up created."
    )
    on_down = False
    bad = Example(setup=ORDERS, sql="alter table mapper.orders drop column note;\n")
    good = Example(
        setup=ORDERS,
        sql=(
            "-- mapperdb:allow LOCK009 reason: note unused since release 2024.06\n"
            "alter table mapper.orders drop column note;\n"
        ),
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if cmd.subtype == AlterTableType.AT_DropColumn:
                yield cmd, f"column {table.name}.{cmd.name} of an existing table is dropped"
        node = ctx.node
        if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
            for obj in node.objects or ():
                dropped = ctx.schema.table(".".join(strings(obj)))
                if ctx.existing(dropped):
                    assert dropped is not None
                    yield node, f"existing table {dropped.name} is dropped"


RULE = Drop()
