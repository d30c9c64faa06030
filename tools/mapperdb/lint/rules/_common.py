"""SQL shared by the rules' examples and the checks several rules make."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, GrantTargetType, ObjectType

from mapperdb.lint.rule import StatementContext
from mapperdb.lint.schema_model import Table, qualified

# Statements that can define columns, and those that carry policy expressions.
COLUMN_STATEMENTS = (ast.CreateStmt, ast.AlterTableStmt, ast.CompositeTypeStmt)
POLICY_STATEMENTS = (ast.CreatePolicyStmt, ast.AlterPolicyStmt)

SERIALS = frozenset({"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"})

ORDERS = """\
create table mapper.orders (
    id bigint generated always as identity primary key,
    customer_id bigint not null,
    amount numeric(12, 2) not null,
    note varchar(200)
);
"""

TENANT_TABLE = """\
create table mapper.storage_records (
    tenant_id uuid not null,
    id bigint generated always as identity,
    payload jsonb not null,
    constraint storage_records_pkey primary key (tenant_id, id)
);
"""

PARTITIONED = """\
create table mapper.audit_records (
    tenant_id uuid not null,
    id bigint generated always as identity,
    at timestamptz not null,
    constraint audit_records_pkey primary key (tenant_id, id, at)
) partition by range (at);
create table mapper.audit_records_2026_01 partition of mapper.audit_records
    for values from ('2026-01-01') to ('2026-02-01');
"""

# The usual shape of a safe index change: its own migration, outside a transaction.
CONCURRENT_INDEX = (
    "-- mapperdb:no-transaction\n"
    "create index concurrently orders_customer_idx on mapper.orders (customer_id);\n"
)

TENANT_RLS = """\
alter table mapper.storage_records enable row level security;
alter table mapper.storage_records force row level security;
create policy storage_records_tenant on mapper.storage_records
    using (tenant_id = (select current_setting('app.tenant_id')::uuid))
    with check (tenant_id = (select current_setting('app.tenant_id')::uuid));
"""


def altered_existing(ctx: StatementContext) -> Iterator[tuple[Table, Any]]:
    """(table, command) for each ALTER TABLE command on a table an earlier migration created."""
    node = ctx.node
    if not isinstance(node, ast.AlterTableStmt):
        return
    table = ctx.schema.table(node.relation)
    if not ctx.existing(table):
        return
    assert table is not None
    for cmd in node.cmds or ():
        yield table, cmd


def policy_expressions(node: Any) -> Iterator[Any]:
    """The USING and WITH CHECK expressions of CREATE POLICY / ALTER POLICY."""
    if isinstance(node, ast.CreatePolicyStmt | ast.AlterPolicyStmt):
        for expr in (node.qual, node.with_check):
            if expr is not None:
                yield expr


def granted_tables(ctx: StatementContext) -> Iterator[tuple[Any, str, list[str]]]:
    """(node, relation name, grantee names) for each relation a GRANT names or covers by schema."""
    node = ctx.node
    if not isinstance(node, ast.GrantStmt) or not node.is_grant:
        return
    if node.objtype != ObjectType.OBJECT_TABLE:
        return
    grantees = [g.rolename or "public" for g in node.grantees or ()]
    if node.targtype == GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA:
        schemas = {o.sval for o in node.objects or ()}
        for name in [*ctx.schema.tables, *ctx.schema.views]:
            if name.rsplit(".", 1)[0] in schemas:
                yield node, name, grantees
    elif node.targtype == GrantTargetType.ACL_TARGET_OBJECT:
        for relation in node.objects or ():
            if isinstance(relation, ast.RangeVar):
                yield relation, qualified(relation), grantees


def validated_where_added(ctx: StatementContext, cmd: Any, contype: ConstrType) -> bool:
    """Whether ``cmd`` validates a constraint this transactional file added NOT VALID before.

    Validating in the same transaction keeps the lock the ADD took (SHARE ROW EXCLUSIVE for a
    foreign key, ACCESS EXCLUSIVE for a CHECK) for the whole validation scan.
    """
    if cmd.subtype != AlterTableType.AT_ValidateConstraint or ctx.file.no_transaction:
        return False
    for statement in ctx.file.statements:
        if statement is ctx.statement:
            return False
        node = statement.node
        for added in node.cmds or () if isinstance(node, ast.AlterTableStmt) else ():
            con = added.def_
            if (
                added.subtype == AlterTableType.AT_AddConstraint
                and con.conname == cmd.name
                and con.skip_validation
                and con.contype == contype
            ):
                return True
    return False
