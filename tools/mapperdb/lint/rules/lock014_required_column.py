"""LOCK014: a NOT NULL column added to an existing table has a default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, altered_existing

# A default (or a generated/identity value) gives existing rows something to hold.
FILLED = (ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_GENERATED, ConstrType.CONSTR_IDENTITY)


class RequiredColumn(Rule):
    id = "LOCK014"
    name = "required-column-without-default"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = "A NOT NULL column without a default is added to an existing table."
    why = (
        "Existing rows have no value for it: on any non-empty table the migration fails at "
        "deploy time, and clients that insert without the column start failing too."
    )
    instead = (
        "Add the column nullable (or with a constant default, which PostgreSQL 11+ stores without "
        "a rewrite), backfill, then enforce NOT NULL through a validated CHECK (see LOCK005)."
    )
    bad = Example(setup=ORDERS, sql="alter table mapper.orders add column region text not null;\n")
    good = Example(
        setup=ORDERS,
        sql="alter table mapper.orders add column region text not null default 'eu';\n",
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if cmd.subtype != AlterTableType.AT_AddColumn:
                continue
            constraints = cmd.def_.constraints or ()
            not_null = cmd.def_.is_not_null or any(
                c.contype in (ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY)
                for c in constraints
            )
            if not_null and not any(c.contype in FILLED for c in constraints):
                yield (
                    cmd,
                    (
                        f"NOT NULL column {table.name}.{cmd.def_.colname} without a default "
                        "fails on a table that has rows"
                    ),
                )


RULE = RequiredColumn()
