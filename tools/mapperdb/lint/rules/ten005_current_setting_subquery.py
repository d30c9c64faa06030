"""TEN005: ``current_setting`` in a policy is wrapped in a scalar subquery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from mapperdb.findings import Severity
from mapperdb.lint.nodes import function_name, walk
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import POLICY_STATEMENTS, TENANT_TABLE, policy_expressions


class CurrentSettingSubquery(Rule):
    id = "TEN005"
    name = "current-setting-in-subquery"
    severity = Severity.WARNING
    node_types = POLICY_STATEMENTS
    summary = "current_setting() in a policy is called per row instead of once per query."
    why = (
        "A bare current_setting() is evaluated for every row the policy filters and keeps the "
        "planner from using an index on tenant_id; `(select current_setting(...))` becomes an "
        "InitPlan evaluated once per statement."
    )
    instead = "Write `tenant_id = (select current_setting('app.tenant_id')::uuid)`."
    bad = Example(
        sql=TENANT_TABLE + "create policy storage_records_tenant on mapper.storage_records\n"
        "    using (tenant_id = current_setting('app.tenant_id')::uuid);\n"
    )
    good = Example(
        sql=TENANT_TABLE + "create policy storage_records_tenant on mapper.storage_records\n"
        "    using (tenant_id = (select current_setting('app.tenant_id')::uuid));\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for expr in policy_expressions(ctx.node):
            wrapped = {
                id(call)
                for sub in walk(expr)
                if isinstance(sub, ast.SubLink)
                for call in walk(sub.subselect)
            }
            for call in walk(expr):
                if (
                    isinstance(call, ast.FuncCall)
                    and function_name(call) == "current_setting"
                    and id(call) not in wrapped
                ):
                    yield (
                        call,
                        "current_setting() runs per row; wrap it: (select current_setting(...))",
                    )


RULE = CurrentSettingSubquery()
