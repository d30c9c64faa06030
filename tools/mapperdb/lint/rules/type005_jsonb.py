"""TYPE005: Use jsonb, not json."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mapperdb.findings import Severity
from mapperdb.lint.nodes import type_name
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import COLUMN_STATEMENTS


class JsonbOverJson(Rule):
    id = "TYPE005"
    name = "prefer-jsonb"
    severity = Severity.ERROR
    node_types = COLUMN_STATEMENTS
    summary = "Use jsonb, not json."
    why = (
        "json is stored as text and reparsed on every access; it has no equality operator, so it "
        "cannot be indexed, compared, used in DISTINCT or GROUP BY, or in a unique constraint."
    )
    instead = "Use jsonb."
    bad = Example(
        sql=(
            "create table mapper.payloads (id bigint generated always as identity primary key, "
            "body "
            "json);\n"
        )
    )
    good = Example(
        sql=(
            "create table mapper.payloads (id bigint generated always as identity primary key, "
            "body "
            "jsonb);\n"
        )
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for name, column in ctx.column_defs:
            kind = type_name(column.typeName)
            if kind == "json":
                yield column, f"column {name} is json; use jsonb"


RULE = JsonbOverJson()
