"""Row-level security policies that cost more than they must."""

from __future__ import annotations

from typing import Any

import pglast
from pglast import ast

from mapperdb.analyze.model import Check, Context, check
from mapperdb.findings import Finding, Severity


def unwrapped_calls(expression: str, functions: frozenset[str]) -> list[str]:
    """Calls of ``functions`` in ``expression`` that are not inside a sub-select."""
    tree = pglast.parse_sql(f"select {expression}")
    found: list[str] = []

    def walk(node: Any, in_sublink: bool) -> None:
        if isinstance(node, tuple | list):
            for item in node:
                walk(item, in_sublink)
            return
        if not isinstance(node, ast.Node):
            return
        if isinstance(node, ast.FuncCall):
            call: Any = node
            name = call.funcname[-1].sval
            if name in functions and not in_sublink:
                found.append(name)
        inside = in_sublink or isinstance(node, ast.SubLink)
        for attr in node:
            walk(getattr(node, attr), inside)

    walk(tree, False)
    return found


@check(
    "AN015",
    "rls-per-row-setting",
    Severity.WARNING,
    "A row-level security policy calls current_setting() outside a sub-select",
    why="A function call in a policy is evaluated for every row the query reads; wrapped in a "
    "sub-select, (select current_setting('app.tenant_id', true)::uuid), it becomes an initplan "
    "evaluated once, and the comparison can use an index.",
    fix="Recreate the policy with each current_setting(...) wrapped in (select ...).",
)
def per_row_setting(self: Check, ctx: Context) -> list[Finding]:
    found = []
    rows = ctx.rows(
        "select format('%%I.%%I', schemaname, tablename), policyname, qual, with_check"
        " from pg_policies where schemaname = %s order by 1, 2",
        (ctx.schema,),
    )
    for table, policy, qual, with_check in rows:
        for clause, expression in (("using", qual), ("with check", with_check)):
            if expression and unwrapped_calls(expression, frozenset({"current_setting"})):
                found.append(
                    self.finding(
                        f"{table} policy {policy}",
                        f"{clause} calls current_setting() per row",
                        evidence=" ".join(expression.split()),
                    )
                )
    return found
