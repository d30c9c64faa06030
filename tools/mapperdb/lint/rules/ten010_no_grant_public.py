"""TEN010: nothing is granted to PUBLIC."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import RoleSpecType

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS


class NoGrantPublic(Rule):
    id = "TEN010"
    name = "no-grant-public"
    severity = Severity.ERROR
    node_types = (ast.GrantStmt, ast.AlterDefaultPrivilegesStmt)
    summary = "A GRANT to PUBLIC."
    why = (
        "PUBLIC is every role of the server, present and future, including other applications' "
        "users and roles created by extensions: the grant cannot be scoped or audited."
    )
    instead = (
        "Grant to the group role that needs it: mapper_app, mapper_readonly or mapper_auditor."
    )
    bad = Example(setup=ORDERS, sql="grant select on mapper.orders to public;\n")
    good = Example(setup=ORDERS, sql="grant select on mapper.orders to mapper_readonly;\n")

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        # ALTER DEFAULT PRIVILEGES ... GRANT reaches every future object: the same rule applies.
        grant = node.action if isinstance(node, ast.AlterDefaultPrivilegesStmt) else node
        if not isinstance(grant, ast.GrantStmt) or not grant.is_grant:
            return
        for grantee in grant.grantees or ():
            if grantee.roletype == RoleSpecType.ROLESPEC_PUBLIC:
                yield node, "GRANT to PUBLIC gives every role of the server access"


RULE = NoGrantPublic()
