"""TEN008: materialized views of tenant data are granted to no role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import TENANT_TABLE, granted_tables

MATVIEW = """\
create materialized view mapper.record_counts as
    select tenant_id, count(*) as records from mapper.storage_records group by tenant_id;
"""


class NoMatviewGrants(Rule):
    id = "TEN008"
    name = "no-tenant-matview-grants"
    severity = Severity.ERROR
    node_types = (ast.GrantStmt,)
    summary = "A materialized view of tenant data is granted to a role."
    why = (
        "A materialized view is a table of copied rows with no row-level security: whoever may "
        "select from it sees every tenant's data in it."
    )
    instead = (
        "Keep it private to mapper_owner and expose it through a security_invoker view or a "
        "function that filters on the current tenant."
    )
    bad = Example(
        sql=TENANT_TABLE + MATVIEW + "grant select on mapper.record_counts to mapper_app;\n"
    )
    good = Example(
        sql=TENANT_TABLE
        + MATVIEW
        + "create view mapper.my_record_counts with (security_invoker = true) as\n"
        "    select tenant_id, records from mapper.record_counts\n"
        "    where tenant_id = (select current_setting('app.tenant_id')::uuid);\n"
        "grant select on mapper.my_record_counts to mapper_app;\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        for node, name, grantees in granted_tables(ctx):
            view = ctx.schema.view(name)
            if view is not None and view.materialized and ctx.schema.reads_tenant_data(view):
                yield (
                    node,
                    (
                        f"materialized view {view.name} holds tenant data without RLS; "
                        f"it is granted to {', '.join(grantees)}"
                    ),
                )


RULE = NoMatviewGrants()
