"""TEN003: no policy is USING (true) or WITH CHECK (true)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mapperdb.findings import Severity
from mapperdb.lint.nodes import is_true_const
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import POLICY_STATEMENTS, TENANT_TABLE, policy_expressions


class NoTruePolicy(Rule):
    id = "TEN003"
    name = "no-true-policy"
    severity = Severity.ERROR
    node_types = POLICY_STATEMENTS
    summary = "A policy whose USING or WITH CHECK is the constant true."
    why = (
        "Permissive policies are OR-ed: one `using (true)` opens every row of the table to the "
        "roles it names, whatever the other policies say."
    )
    instead = (
        "Compare tenant_id to the transaction's tenant: "
        "`tenant_id = (select current_setting('app.tenant_id')::uuid)`."
    )
    bad = Example(
        sql=TENANT_TABLE
        + (
            "create policy storage_records_all on mapper.storage_records using (true) with check "
            "(true);\n"
        )
    )
    good = Example(
        sql=TENANT_TABLE + "create policy storage_records_tenant on mapper.storage_records\n"
        "    using (tenant_id = (select current_setting('app.tenant_id')::uuid));\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for expr in policy_expressions(ctx.node):
            if is_true_const(expr):
                yield expr, f"policy {ctx.node.policy_name} is always true: it opens every row"


RULE = NoTruePolicy()
