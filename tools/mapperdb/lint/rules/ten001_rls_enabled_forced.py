"""TEN001: every tenant table has row-level security enabled and forced."""

from __future__ import annotations

from collections.abc import Iterator

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, SetContext, SetHit
from mapperdb.lint.rules._common import TENANT_RLS, TENANT_TABLE


class RlsEnabledForced(Rule):
    id = "TEN001"
    name = "tenant-rls-enabled-forced"
    severity = Severity.ERROR
    summary = "A table with tenant_id ends the migration set without RLS enabled and forced."
    why = (
        "Without ENABLE ROW LEVEL SECURITY every role with a grant reads every tenant's rows. "
        "Without FORCE the table owner (and so any migration, job or function running as "
        "mapper_owner) bypasses the policies silently."
    )
    instead = (
        "`alter table ... enable row level security` and `alter table ... force row level "
        "security`, in the migration that creates the table or any later one of the set."
    )
    bad = Example(
        sql=TENANT_TABLE + "alter table mapper.storage_records enable row level security;\n"
    )
    good = Example(sql=TENANT_TABLE + TENANT_RLS)

    def check_set(self, ctx: SetContext) -> Iterator[SetHit]:
        for table in ctx.schema.tables.values():
            if not table.is_tenant or table.partition_of is not None:
                continue
            missing = [
                word
                for word, on in (("enabled", table.rls_enabled), ("forced", table.rls_forced))
                if not on
            ]
            if missing:
                yield SetHit(
                    table.origin,
                    f"tenant table {table.name} has row-level security not {' nor '.join(missing)}",
                    frozenset(table.touched),
                )


RULE = RlsEnabledForced()
