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

# Built-ins that pg_proc marks IMMUTABLE or STABLE and that people put in defaults. A STABLE
# default such as now() is evaluated once by ALTER TABLE and stored in the catalog (PostgreSQL
# 11+), without a rewrite. Any other function counts as volatile: gen_random_uuid(), uuidv7(),
# nextval(), clock_timestamp() and every extension function not declared here rewrite the table.
NOT_VOLATILE = frozenset(
    {
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_setting",
        "current_database",
        "current_schema",
        "to_char",
        "to_date",
        "to_timestamp",
        "date_trunc",
        "make_date",
        "make_interval",
        "make_timestamptz",
        "lower",
        "upper",
        "md5",
        "length",
        "abs",
        "round",
        "concat",
        "concat_ws",
        "format",
        "jsonb_build_object",
        "jsonb_build_array",
        "json_build_object",
        "json_build_array",
        "to_jsonb",
        "array_length",
        "cardinality",
        "timezone",
    }
)


class VolatileDefault(Rule):
    id = "LOCK007"
    name = "volatile-default"
    severity = Severity.ERROR
    node_types = (ast.AlterTableStmt,)
    summary = (
        "A column is added to an existing table with a default that calls a function not known "
        "to be immutable or stable (or as identity, serial, stored generated)."
    )
    why = (
        "A constant or STABLE default is stored once in the catalog, but a VOLATILE one must be "
        "computed per row: PostgreSQL rewrites the whole table under an ACCESS EXCLUSIVE lock. "
        "Identity, serial and stored generated columns rewrite the same way. A function the "
        "gate does not know (an extension's, uuidv7() of PostgreSQL 18) counts as volatile, "
        "because that is the default of CREATE FUNCTION and a wrong guess costs a rewrite."
    )
    instead = (
        "Add the column without a default (or with a constant one), then SET DEFAULT for new "
        "rows and backfill existing rows in batches."
    )
    bad = Example(
        setup=ORDERS,
        sql="alter table mapper.orders add column public_id uuid default uuidv7();\n",
    )
    good = Example(
        setup=ORDERS,
        sql=(
            "alter table mapper.orders add column public_id uuid;\n"
            "alter table mapper.orders alter column public_id set default uuidv7();\n"
            "alter table mapper.orders add column added_at timestamptz default now();\n"
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
                    if name in NOT_VOLATILE or name in ctx.schema.stable_functions:
                        continue
                    if name in ctx.schema.volatile_functions:
                        return f"with the volatile default {name}()"
                    return f"with the default {name}(), not known to be immutable or stable,"
        return None


RULE = VolatileDefault()
