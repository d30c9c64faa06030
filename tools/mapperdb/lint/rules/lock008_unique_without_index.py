"""LOCK008: a unique or primary key constraint on an existing table reuses a concurrent index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, altered_existing


class UniqueWithoutIndex(Rule):
    id = "LOCK008"
    name = "unique-without-index"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = (
        "A UNIQUE or PRIMARY KEY constraint is added to an existing table without a pre-built "
        "index."
    )
    why = (
        "Adding the constraint builds its unique index while holding an ACCESS EXCLUSIVE lock: "
        "the table is unreadable and unwritable for the whole build."
    )
    instead = (
        "Build the unique index with CREATE UNIQUE INDEX CONCURRENTLY (no-transaction "
        "migration), then `add constraint ... unique using index ...`, which is instant."
    )
    bad = Example(
        setup=ORDERS,
        sql="alter table mapper.orders add constraint orders_note_key unique (note);\n",
    )
    good = Example(
        setup=ORDERS + "create unique index orders_note_key_idx on mapper.orders (note);\n",
        sql=(
            "alter table mapper.orders add constraint orders_note_key\n"
            "    unique using index orders_note_key_idx;\n"
        ),
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if cmd.subtype != AlterTableType.AT_AddConstraint:
                continue
            con = cmd.def_
            if (
                con.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY)
                and not con.indexname
            ):
                kind = "unique" if con.contype == ConstrType.CONSTR_UNIQUE else "primary key"
                yield (
                    cmd,
                    (
                        f"{kind} constraint on existing table {table.name} builds its index under "
                        "an "
                        "ACCESS EXCLUSIVE lock"
                    ),
                )


RULE = UniqueWithoutIndex()
