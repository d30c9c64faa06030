"""STY002: objects are named with their schema (STYLE.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import GrantTargetType, ObjectType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import strings
from mapperdb.lint.rule import Example, Rule, StatementContext

# Where a statement names a relation as a RangeVar: (statement type, attribute).
RELATION_SLOTS = (
    (ast.CreateStmt, "relation"),
    (ast.ViewStmt, "view"),
    (ast.IndexStmt, "relation"),
    (ast.AlterTableStmt, "relation"),
    (ast.CreatePolicyStmt, "table"),
    (ast.AlterPolicyStmt, "table"),
    (ast.CreateTrigStmt, "relation"),
    (ast.RenameStmt, "relation"),
    (ast.CreateSeqStmt, "sequence"),
    (ast.CompositeTypeStmt, "typevar"),
)
NAMING_STATEMENTS = (
    *(kind for kind, _ in RELATION_SLOTS),
    ast.CreateTableAsStmt,
    ast.GrantStmt,
    ast.CreateFunctionStmt,
    ast.CreateEnumStmt,
    ast.DropStmt,
)
DROPPED = (
    ObjectType.OBJECT_TABLE,
    ObjectType.OBJECT_VIEW,
    ObjectType.OBJECT_MATVIEW,
    ObjectType.OBJECT_INDEX,
    ObjectType.OBJECT_SEQUENCE,
)


def _relations(node: Any) -> Iterator[Any]:
    for kind, slot in RELATION_SLOTS:
        if isinstance(node, kind):
            relation = getattr(node, slot)
            if relation is not None:
                yield relation
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        yield node.into.rel
    if (
        isinstance(node, ast.GrantStmt)
        and node.objtype == ObjectType.OBJECT_TABLE
        and node.targtype == GrantTargetType.ACL_TARGET_OBJECT
    ):
        yield from (o for o in node.objects or () if isinstance(o, ast.RangeVar))


class SchemaQualified(Rule):
    id = "STY002"
    name = "schema-qualified-names"
    severity = Severity.ERROR
    node_types = NAMING_STATEMENTS
    summary = "A table, view, index target, sequence, type or function named without its schema."
    why = (
        "An unqualified name resolves through the session's search_path: the same migration can "
        "create or alter an object in a different schema depending on who runs it, and a "
        "hostile schema early on the path can shadow the intended object."
    )
    instead = (
        "Always write `mapper.<name>` (index names excepted: an index lives in its table's schema)."
    )
    bad = Example(sql="create table jobs (id bigint generated always as identity primary key);\n")
    good = Example(
        sql="create table mapper.jobs (id bigint generated always as identity primary key);\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        for relation in _relations(node):
            if not relation.schemaname and relation.relpersistence != "t":
                yield relation, f"{relation.relname} is not schema-qualified"
        if isinstance(node, ast.CreateFunctionStmt | ast.CreateEnumStmt):
            names = strings(
                node.funcname if isinstance(node, ast.CreateFunctionStmt) else node.typeName
            )
            if len(names) == 1:
                yield node, f"{names[0]} is not schema-qualified"
        if isinstance(node, ast.DropStmt) and node.removeType in DROPPED:
            for obj in node.objects or ():
                names = strings(obj)
                if len(names) == 1:
                    yield node, f"{names[0]} is not schema-qualified"


RULE = SchemaQualified()
