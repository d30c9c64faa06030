"""TEN011: every key of a tenant table includes tenant_id."""

from __future__ import annotations

from collections.abc import Iterator

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, SetContext, SetHit
from mapperdb.lint.schema_model import TENANT_COLUMN


class TenantKeys(Rule):
    id = "TEN011"
    name = "tenant-keys-include-tenant-id"
    severity = Severity.ERROR
    summary = "A primary key, unique constraint or foreign key of a tenant table lacks tenant_id."
    why = (
        "A unique key without tenant_id is shared by all tenants: an insert that collides with "
        "another tenant's row fails and so reveals that the row exists (a covert channel through "
        "RLS). A foreign key to a tenant table without tenant_id can point at another tenant's "
        "row. Citus also needs tenant_id in every key to distribute and co-locate the tables."
    )
    instead = (
        "Lead every key with tenant_id: `primary key (tenant_id, id)`, `foreign key (tenant_id, "
        "parent_id) "
        "references ... (tenant_id, id)`."
    )
    bad = Example(
        sql="create table mapper.model_metrics (\n"
        "    tenant_id uuid not null,\n"
        "    id bigint generated always as identity primary key,\n"
        "    name text not null\n"
        ");\n"
    )
    good = Example(
        sql="create table mapper.model_metrics (\n"
        "    tenant_id uuid not null,\n"
        "    id bigint generated always as identity,\n"
        "    name text not null,\n"
        "    constraint model_metrics_pkey primary key (tenant_id, id)\n"
        ");\n"
    )

    def check_set(self, ctx: SetContext) -> Iterator[SetHit]:
        for table in ctx.schema.tables.values():
            if not table.is_tenant:
                continue
            for key in table.keys:
                if not key.columns or TENANT_COLUMN in key.columns:
                    continue  # columns unknown (an index from outside the set) cannot be judged
                if key.kind == "foreign key":
                    target = ctx.schema.table(key.ref_table or "")
                    if target is None or not target.is_tenant:
                        continue  # a reference to shared data (a lookup table) needs no tenant
                label = f"{key.kind} {key.name}".strip()
                yield SetHit(
                    key.origin,
                    f"{label} of tenant table {table.name} ({', '.join(key.columns)}) "
                    "lacks tenant_id",
                    frozenset(table.touched),
                )


RULE = TenantKeys()
