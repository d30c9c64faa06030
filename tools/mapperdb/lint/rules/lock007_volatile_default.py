"""LOCK007: a column added to an existing table has no volatile default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import function_name, type_name, walk
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS, SERIALS, altered_existing

# Built-ins marked VOLATILE in pg_proc that people put in defaults. now() and current_timestamp
# are STABLE: PostgreSQL 11+ stores their value once, without a rewrite.
VOLATILE = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "txid_current",
        "pg_current_xact_id",
        "gen_random_bytes",
        "setseed",
    }
)


class VolatileDefault(Rule):
    id = "LOCK007"
    name = "volatile-default"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = (
        "A column with a volatile default (or identity, serial, stored generated) is added to "
        "an existing "
        "table."
    )
    why = (
        "A constant or STABLE default is stored once in the catalog, but a VOLATILE one must be "
        "computed per row: PostgreSQL rewrites the whole table under an ACCESS EXCLUSIVE lock. "
        "Identity, serial and stored generated columns rewrite the same way."
    )
    instead = (
        "Add the column without a default (or with a constant one), then SET DEFAULT for new "
        "rows and backfill existing rows in batches."
    )
    bad = Example(
        setup=ORDERS,
        sql="alter table mapper.orders add column public_id uuid default gen_random_uuid();\n",
    )
    good = Example(
        setup=ORDERS,
        sql=(
            "alter table mapper.orders add column public_id uuid;\n"
            "alter table mapper.orders alter column public_id set default gen_random_uuid();\n"
        ),
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for table, cmd in altered_existing(ctx):
            if cmd.subtype != AlterTableType.AT_AddColumn:
                continue
            reason = self._rewrite_reason(ctx, cmd.def_)
            if reason:
                yield cmd, f"adding {table.name}.{cmd.def_.colname} {reason} rewrites the table"

    @staticmethod
    def _rewrite_reason(ctx: StatementContext, column: Any) -> str | None:
        if column.typeName is not None and type_name(column.typeName) in SERIALS:
            return "as a serial"
        for con in column.constraints or ():
            if con.contype == ConstrType.CONSTR_IDENTITY:
                return "as an identity column"
            if con.contype == ConstrType.CONSTR_GENERATED:
                return "as a stored generated column"
            if con.contype == ConstrType.CONSTR_DEFAULT:
                for call in walk(con.raw_expr):
                    if not isinstance(call, ast.FuncCall):
                        continue
                    name = function_name(call)
                    if name in VOLATILE or name in ctx.schema.volatile_functions:
                        return f"with the volatile default {name}()"
        return None


RULE = VolatileDefault()
