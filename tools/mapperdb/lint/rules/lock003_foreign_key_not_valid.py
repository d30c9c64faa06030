"""LOCK003: a foreign key on an existing table is added NOT VALID, then validated."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, altered_existing, validated_where_added

CUSTOMERS = "create table mapper.customers (id bigint generated always as identity primary key);\n"


class ForeignKeyNotValid(Rule):
    id = "LOCK003"
    name = "foreign-key-not-valid"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = (
        "A foreign key is added to an existing table without NOT VALID, or validated in the "
        "transaction that added it."
    )
    why = (
        "Adding a validated foreign key scans the whole table while holding a SHARE ROW EXCLUSIVE "
        "lock on it and on the referenced table: writes to both stop until the scan ends."
    )
    instead = (
        "Add the constraint NOT VALID (instant; new rows are checked), then `alter table ... "
        "validate constraint ...` in a later migration, or later in a `-- mapperdb:no-transaction` "
        "one where each statement commits on its own: VALIDATE takes only a SHARE UPDATE "
        "EXCLUSIVE lock and lets writes continue."
    )
    bad = Example(
        setup=ORDERS + CUSTOMERS,
        sql=(
            "alter table mapper.orders add constraint orders_customer_fk\n"
            "    foreign key (customer_id) references mapper.customers (id);\n"
        ),
    )
    good = Example(
        setup=ORDERS + CUSTOMERS,
        sql=(
            "-- mapperdb:no-transaction\n"
            "alter table mapper.orders add constraint orders_customer_fk\n"
            "    foreign key (customer_id) references mapper.customers (id) not valid;\n"
            "alter table mapper.orders validate constraint orders_customer_fk;\n"
        ),
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            constraints = []
            if cmd.subtype == AlterTableType.AT_AddConstraint:
                constraints = [cmd.def_]
            elif cmd.subtype == AlterTableType.AT_AddColumn:
                constraints = list(cmd.def_.constraints or ())
            for con in constraints:
                if con.contype == ConstrType.CONSTR_FOREIGN and not con.skip_validation:
                    yield cmd, f"foreign key added to existing table {table.name} without NOT VALID"
            if validated_where_added(ctx, cmd, ConstrType.CONSTR_FOREIGN):
                yield cmd, f"foreign key {cmd.name} is validated in the transaction that added it"


RULE = ForeignKeyNotValid()
