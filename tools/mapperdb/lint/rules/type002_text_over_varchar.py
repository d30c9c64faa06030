"""TYPE002: Use text, not varchar(n) or char(n)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mapperdb.findings import Severity
from mapperdb.lint.nodes import type_name, typmods
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import COLUMN_STATEMENTS


class TextOverVarchar(Rule):
    id = "TYPE002"
    name = "prefer-text"
    severity = Severity.ERROR
    node_types = COLUMN_STATEMENTS
    summary = "Use text, not varchar(n) or char(n)."
    why = (
        "A length limit in the type is enforced no better than a CHECK, and raising it later is an "
        "ALTER COLUMN TYPE; char(n) also pads with spaces and compares surprisingly."
    )
    instead = (
        "Use text, with `check (char_length(col) <= n)` where a limit is a real rule (NOT VALID, "
        "then "
        "VALIDATE, when added later)."
    )
    bad = Example(
        sql=(
            "create table mapper.notes (id bigint generated always as identity primary key, body "
            "varchar(200));\n"
        )
    )
    good = Example(
        sql=(
            "create table mapper.notes (\n"
            "    id bigint generated always as identity primary key,\n"
            "    body text constraint notes_body_length check (char_length(body) <= 200)\n);\n"
        )
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for name, column in ctx.column_defs:
            kind, mods = type_name(column.typeName), typmods(column.typeName)
            size = ", ".join(map(str, mods)) or "1"
            if (kind == "varchar" and bool(mods)) or kind == "char":
                yield column, f"column {name} is {kind}({size}); use text with a CHECK"


RULE = TextOverVarchar()
