"""TEN004: no ``... is null or ...`` in a policy: a missing tenant must see nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import BoolExprType, NullTestType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import walk
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import POLICY_STATEMENTS, TENANT_TABLE, policy_expressions

TENANT = "current_setting('app.tenant_id', true)"


class NoNullFailOpen(Rule):
    id = "TEN004"
    name = "no-null-fail-open"
    severity = Severity.ERROR
    node_types = POLICY_STATEMENTS
    summary = "A policy ORs an IS NULL test with its tenant check (fail-open)."
    why = (
        "`current_setting(...) is null or tenant_id = ...` lets every row through whenever the "
        "tenant is not set: a pooled connection or a forgotten SET LOCAL leaks all tenants."
    )
    instead = "Compare tenant_id only; with no tenant set the comparison is null and no row passes."
    bad = Example(
        sql=TENANT_TABLE + "create policy storage_records_tenant on mapper.storage_records\n"
        f"    using ((select {TENANT}) is null\n"
        f"        or tenant_id = (select {TENANT}::uuid));\n"
    )
    good = Example(
        sql=TENANT_TABLE + "create policy storage_records_tenant on mapper.storage_records\n"
        f"    using (tenant_id = (select {TENANT}::uuid));\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for expr in policy_expressions(ctx.node):
            for node in walk(expr):
                if not (isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.OR_EXPR):
                    continue
                if any(
                    isinstance(n, ast.NullTest) and n.nulltesttype == NullTestType.IS_NULL
                    for arg in node.args or ()
                    for n in walk(arg)
                ):
                    yield node, f"policy {ctx.node.policy_name} ORs an IS NULL test: it fails open"
                    break


RULE = NoNullFailOpen()
