"""LOCK010: no column or table of an existing table is renamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import ObjectType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS


class Rename(Rule):
    id = "LOCK010"
    name = "rename-column-or-table"
    severity = Severity.ERROR
    node_types = (ast.RenameStmt,)
    summary = "A column or table that an earlier migration created is renamed."
    why = (
        "Application code that is already running uses the old name: between the migration and "
        "the deploy of the new code, every query on it fails."
    )
    instead = (
        "Add the new column (or a view with the new name), write to both, backfill, switch "
        "readers, then drop the old one in a later release."
    )
    on_down = False
    bad = Example(setup=ORDERS, sql="alter table mapper.orders rename column note to remark;\n")
    good = Example(
        sql=(
            "create table mapper.invoices (id bigint generated always as identity primary key, "
            "note text);\n"
            "alter table mapper.invoices rename column note to remark;\n"
        ),
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        if not isinstance(node, ast.RenameStmt) or node.relation is None:
            return
        table = ctx.schema.table(node.relation)
        if not ctx.existing(table):
            return
        assert table is not None
        if node.renameType == ObjectType.OBJECT_COLUMN:
            yield node, f"column {table.name}.{node.subname} of an existing table is renamed"
        elif node.renameType == ObjectType.OBJECT_TABLE:
            yield node, f"existing table {table.name} is renamed"


RULE = Rename()
