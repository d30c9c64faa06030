"""TYPE003: Use an identity column, not serial."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mapperdb.findings import Severity
from mapperdb.lint.nodes import type_name
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import COLUMN_STATEMENTS, SERIALS


class IdentityOverSerial(Rule):
    id = "TYPE003"
    name = "prefer-identity"
    severity = Severity.ERROR
    node_types = COLUMN_STATEMENTS
    summary = "Use an identity column, not serial."
    why = (
        "serial creates a sequence the table owner owns separately: grants, ownership changes "
        "and dumps "
        "must handle it apart, and serial (int4) runs out at 2^31."
    )
    instead = "Use `bigint generated always as identity`."
    bad = Example(sql="create table mapper.jobs (id serial primary key);\n")
    good = Example(
        sql="create table mapper.jobs (id bigint generated always as identity primary key);\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for name, column in ctx.column_defs:
            kind = type_name(column.typeName)
            if kind in SERIALS:
                yield column, f"column {name} is {kind}; use bigint generated always as identity"


RULE = IdentityOverSerial()
