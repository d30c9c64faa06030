"""TEN002: the policies of a tenant table cover select, insert, update and delete."""

from __future__ import annotations

from collections.abc import Iterator

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, SetContext, SetHit
from mapperdb.lint.rules._common import TENANT_TABLE
from mapperdb.lint.schema_model import COMMANDS

FORCE = """\
alter table mapper.storage_records enable row level security;
alter table mapper.storage_records force row level security;
"""
SELECT_ONLY = """\
create policy storage_records_read on mapper.storage_records for select
    using (tenant_id = (select current_setting('app.tenant_id')::uuid));
"""


class PoliciesCoverCommands(Rule):
    id = "TEN002"
    name = "tenant-policies-cover-commands"
    severity = Severity.ERROR
    summary = (
        "The permissive policies of a tenant table leave a command (select, insert, update, "
        "delete) uncovered."
    )
    why = (
        "With RLS on, a command no permissive policy covers is denied to everyone: the table "
        "half-works, and the usual fix under pressure is a broad policy or a BYPASSRLS role."
    )
    instead = (
        "Give every tenant table a `for all` policy with USING and WITH CHECK on tenant_id, or "
        "one permissive policy per command."
    )
    bad = Example(sql=TENANT_TABLE + FORCE + SELECT_ONLY)
    good = Example(
        sql=TENANT_TABLE
        + FORCE
        + "create policy storage_records_tenant on mapper.storage_records for all\n"
        "    using (tenant_id = (select current_setting('app.tenant_id')::uuid))\n"
        "    with check (tenant_id = (select current_setting('app.tenant_id')::uuid));\n"
    )

    def check_set(self, ctx: SetContext) -> Iterator[SetHit]:
        for table in ctx.schema.tables.values():
            if not table.is_tenant or table.partition_of is not None:
                continue
            covered: set[str] = set()
            for policy in table.policies:
                if policy.permissive:
                    covered.update(COMMANDS if policy.command == "all" else {policy.command})
            missing = [c for c in COMMANDS if c not in covered]
            if missing:
                yield SetHit(
                    table.origin,
                    f"tenant table {table.name} has no permissive policy for {', '.join(missing)}",
                    frozenset(table.touched),
                )


RULE = PoliciesCoverCommands()
