"""LOCK017: a column added to an existing table carries no inline UNIQUE or PRIMARY KEY."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, altered_existing

KINDS = {ConstrType.CONSTR_UNIQUE: "unique", ConstrType.CONSTR_PRIMARY: "primary key"}


class AddColumnInlineUnique(Rule):
    id = "LOCK017"
    name = "add-column-inline-unique"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = "ADD COLUMN on an existing table declares the column UNIQUE or PRIMARY KEY inline."
    why = (
        "The inline constraint builds its unique index inside the ALTER TABLE, under the ACCESS "
        "EXCLUSIVE lock it takes: the table can be neither read nor written for the whole build "
        "(a primary key also scans the table for NOT NULL). It is LOCK008's problem in a form "
        "that is easy to miss."
    )
    instead = (
        "Add the column plain; in a `-- mapperdb:no-transaction` migration build the index with "
        "CREATE UNIQUE INDEX CONCURRENTLY; then `add constraint ... unique using index ...` "
        "(or `primary key using index`), which is instant."
    )
    bad = Example(setup=ORDERS, sql="alter table mapper.orders add column code text unique;\n")
    good = Example(setup=ORDERS, sql="alter table mapper.orders add column code text;\n")

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if cmd.subtype != AlterTableType.AT_AddColumn:
                continue
            for con in cmd.def_.constraints or ():
                kind = KINDS.get(con.contype)
                if kind is not None:
                    yield (
                        con,
                        f"{kind} column {cmd.def_.colname} added to existing table {table.name} "
                        "builds its index under an ACCESS EXCLUSIVE lock",
                    )


RULE = AddColumnInlineUnique()
