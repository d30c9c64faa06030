"""TEN007: views over tenant tables are ``security_invoker``."""

from __future__ import annotations

from collections.abc import Iterator

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, SetContext, SetHit
from mapperdb.lint.rules._common import TENANT_TABLE


class SecurityInvokerViews(Rule):
    id = "TEN007"
    name = "tenant-views-security-invoker"
    severity = Severity.ERROR
    summary = "A view reads a tenant table without security_invoker = true."
    why = (
        "A view runs with its owner's rights by default; the owner (mapper_owner) owns the tenant "
        "tables, so the view ignores their policies unless RLS is forced, and even then checks "
        "the owner, not the caller: any role granted the view can read across tenants."
    )
    instead = (
        "Create the view `with (security_invoker = true)` (PostgreSQL 15+), or alter it to set "
        "that "
        "option."
    )
    bad = Example(
        sql=TENANT_TABLE
        + "create view mapper.record_ids as select tenant_id, id from mapper.storage_records;\n"
    )
    good = Example(
        sql=TENANT_TABLE + "create view mapper.record_ids with (security_invoker = true) as\n"
        "    select tenant_id, id from mapper.storage_records;\n"
    )

    def check_set(self, ctx: SetContext) -> Iterator[SetHit]:
        for view in ctx.schema.views.values():
            if view.materialized or view.security_invoker:
                continue
            if ctx.schema.reads_tenant_data(view):
                yield SetHit(
                    view.origin,
                    f"view {view.name} reads tenant data but is not security_invoker",
                    frozenset(view.touched),
                )


RULE = SecurityInvokerViews()
