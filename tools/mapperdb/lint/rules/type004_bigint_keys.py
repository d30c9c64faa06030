"""TYPE004: keys are bigint (or uuid), not integer or smallint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import ConstrType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import column_names, type_name
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import COLUMN_STATEMENTS

SMALL = frozenset({"integer", "smallint", "int", "int2", "int4"})
KEY_TYPES = (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_FOREIGN)


def _key_columns(node: Any) -> set[str]:
    """Columns a CREATE TABLE's table-level primary and foreign keys name."""
    keys: set[str] = set()
    for element in getattr(node, "tableElts", None) or ():
        if isinstance(element, ast.Constraint) and element.contype in KEY_TYPES:
            keys.update(column_names(element.keys) or column_names(element.fk_attrs))
    return keys


class BigintKeys(Rule):
    id = "TYPE004"
    name = "prefer-bigint-keys"
    severity = Severity.ERROR
    node_types = COLUMN_STATEMENTS
    summary = "A primary or foreign key column is integer or smallint."
    why = (
        "A 32-bit key runs out at 2^31 rows (IDs are never reused), and widening a key later "
        "rewrites the table and every table that references it under ACCESS EXCLUSIVE locks."
    )
    instead = "Use bigint (`bigint generated always as identity` for surrogate keys) or uuid."
    bad = Example(
        sql="create table mapper.jobs (id integer generated always as identity primary key);\n"
    )
    good = Example(
        sql="create table mapper.jobs (id bigint generated always as identity primary key);\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        keys = _key_columns(ctx.node)
        for name, column in ctx.column_defs:
            if type_name(column.typeName) not in SMALL:
                continue
            own = any(c.contype in KEY_TYPES for c in column.constraints or ())
            if own or name in keys:
                yield column, f"key column {name} is {type_name(column.typeName)}; use bigint"


RULE = BigintKeys()
