"""LOCK006: a column type change does not rewrite an existing table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import type_name, typmods
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, altered_existing
from mapperdb.lint.schema_model import Column

TEXTUAL = {"varchar", "text"}


def _widens(old: Column, new_type: str, new_mods: tuple[int, ...]) -> bool:
    """Changes PostgreSQL makes in the catalog only, without touching a row."""
    if old.type in TEXTUAL and new_type == "text":
        return True
    if old.type == "varchar" and new_type == "varchar":
        return not new_mods or (bool(old.typmods) and new_mods[0] >= old.typmods[0])
    if old.type == "numeric" and new_type == "numeric":
        if not new_mods:
            return True
        old_scale = old.typmods[1] if len(old.typmods) > 1 else 0
        new_scale = new_mods[1] if len(new_mods) > 1 else 0
        return bool(old.typmods) and new_mods[0] >= old.typmods[0] and new_scale == old_scale
    return old.type == "cidr" and new_type == "inet"


class ColumnTypeRewrite(Rule):
    id = "LOCK006"
    name = "column-type-rewrite"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = "A column type change that rewrites an existing table."
    why = (
        "Most ALTER COLUMN ... TYPE changes rewrite every row and rebuild every index under an "
        "ACCESS EXCLUSIVE lock: the table is offline for the whole rewrite."
    )
    instead = (
        "Only widen in place (varchar(n) to text or a longer varchar, numeric to a larger "
        "precision with the same scale, cidr to inet). Otherwise add a new column, backfill it "
        "in batches, switch readers and writers, then drop the old column."
    )
    bad = Example(
        setup=ORDERS, sql="alter table mapper.orders alter column customer_id type text;\n"
    )
    good = Example(setup=ORDERS, sql="alter table mapper.orders alter column note type text;\n")

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if cmd.subtype != AlterTableType.AT_AlterColumnType:
                continue
            old = table.columns.get(cmd.name)
            new_type = type_name(cmd.def_.typeName)
            if old is not None and _widens(old, new_type, typmods(cmd.def_.typeName)):
                continue
            was = f" from {old.type}" if old else ""
            yield cmd, f"changing {table.name}.{cmd.name}{was} to {new_type} rewrites the table"


RULE = ColumnTypeRewrite()
