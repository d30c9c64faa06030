"""LOCK005: SET NOT NULL on an existing column is backed by a validated CHECK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, altered_existing


class SetNotNull(Rule):
    id = "LOCK005"
    name = "set-not-null-needs-check"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = "SET NOT NULL on an existing column without a validated CHECK (col is not null)."
    why = (
        "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock to prove there is no "
        "null: the table is unreadable and unwritable for the length of the scan."
    )
    instead = (
        "Add `check (col is not null) not valid`, validate it (no blocking lock), then SET NOT "
        "NULL: PostgreSQL 12+ uses the validated constraint and skips the scan. Drop the CHECK "
        "after."
    )
    bad = Example(setup=ORDERS, sql="alter table mapper.orders alter column note set not null;\n")
    good = Example(
        setup=ORDERS,
        sql=(
            "-- mapperdb:no-transaction\n"
            "alter table mapper.orders\n"
            "    add constraint orders_note_not_null check (note is not null) not valid;\n"
            "alter table mapper.orders validate constraint orders_note_not_null;\n"
            "alter table mapper.orders alter column note set not null;\n"
            "alter table mapper.orders drop constraint orders_note_not_null;\n"
        ),
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if cmd.subtype != AlterTableType.AT_SetNotNull:
                continue
            column = table.columns.get(cmd.name)
            if column is not None and column.not_null:
                continue
            if any(c.validated and c.not_null_column == cmd.name for c in table.checks):
                continue
            yield (
                cmd,
                (
                    f"SET NOT NULL on {table.name}.{cmd.name} scans the table under an ACCESS "
                    "EXCLUSIVE lock; validate a CHECK (col is not null) first"
                ),
            )


RULE = SetNotNull()
