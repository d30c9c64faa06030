"""TYPE001: Use timestamptz, not timestamp without time zone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mapperdb.findings import Severity
from mapperdb.lint.nodes import type_name
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import COLUMN_STATEMENTS


class Timestamptz(Rule):
    id = "TYPE001"
    name = "prefer-timestamptz"
    severity = Severity.ERROR
    node_types = COLUMN_STATEMENTS
    summary = "Use timestamptz, not timestamp without time zone."
    why = (
        "A timestamp without time zone stores wall-clock time with no offset: the same instant "
        "reads "
        "differently per session TimeZone, and comparisons across regions or DST changes are wrong."
    )
    instead = "Use timestamptz; it stores an absolute instant and converts on display."
    bad = Example(
        sql=(
            "create table mapper.events (id bigint generated always as identity primary key, at "
            "timestamp);\n"
        )
    )
    good = Example(
        sql=(
            "create table mapper.events (id bigint generated always as identity primary key, at "
            "timestamptz);\n"
        )
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for name, column in ctx.column_defs:
            kind = type_name(column.typeName)
            if kind == "timestamp":
                yield column, f"column {name} is timestamp without time zone; use timestamptz"


RULE = Timestamptz()
