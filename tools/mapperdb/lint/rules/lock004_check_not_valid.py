"""LOCK004: a CHECK constraint on an existing table is added NOT VALID, then validated."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, altered_existing, validated_where_added


class CheckNotValid(Rule):
    id = "LOCK004"
    name = "check-not-valid"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = (
        "A CHECK constraint is added to an existing table without NOT VALID, or validated in the "
        "transaction that added it."
    )
    why = (
        "Adding a validated CHECK scans the whole table under an ACCESS EXCLUSIVE lock: no reads "
        "and no writes until every row is checked."
    )
    instead = (
        "Add the constraint NOT VALID (instant; new rows are checked), then `alter table ... "
        "validate constraint ...` (SHARE UPDATE EXCLUSIVE: reads and writes go on) in a later "
        "migration or later in a `-- mapperdb:no-transaction` one."
    )
    bad = Example(
        setup=ORDERS,
        sql="alter table mapper.orders add constraint orders_amount_check check (amount >= 0);\n",
    )
    good = Example(
        setup=ORDERS,
        sql=(
            "-- mapperdb:no-transaction\n"
            "alter table mapper.orders\n"
            "    add constraint orders_amount_check check (amount >= 0) not valid;\n"
            "alter table mapper.orders validate constraint orders_amount_check;\n"
        ),
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if (
                cmd.subtype == AlterTableType.AT_AddConstraint
                and cmd.def_.contype == ConstrType.CONSTR_CHECK
                and not cmd.def_.skip_validation
            ):
                yield (
                    cmd,
                    f"CHECK constraint added to existing table {table.name} without NOT VALID",
                )
            if validated_where_added(ctx, cmd, ConstrType.CONSTR_CHECK):
                yield (
                    cmd,
                    f"CHECK constraint {cmd.name} is validated in the transaction that added it",
                )


RULE = CheckNotValid()
