"""What a migration file may not contain, given how the runner runs it.

The runner owns the transaction: a transactional file runs inside one with its history row, a
no-transaction file runs in autocommit with its progress recorded after each statement. A file
that commits, rolls back or opens a transaction of its own breaks both promises (a COMMIT half-way
leaves the first half applied while the runner reports a rollback), and statements PostgreSQL
refuses inside a transaction block fail only after earlier statements ran. The runner checks every
file it is about to run against these rules before running anything, whatever the SQL gate said;
the gate's HYG005 uses the same test.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, DiscardMode, ReindexObjectType, VariableSetKind

from mapperdb.migrate.files import MigrationFile, Statement

SPLIT = "move it to a migration of its own whose first line is `-- mapperdb:no-transaction`"
SESSION_SETTINGS = frozenset({"TRANSACTION", "SESSION CHARACTERISTICS"})
ROLE_SETTINGS = frozenset({"role", "session_authorization"})
# Statements PostgreSQL refuses inside a transaction block (when the predicate holds).
NOT_IN_TRANSACTION: dict[type, str] = {
    ast.CreatedbStmt: "CREATE DATABASE",
    ast.DropdbStmt: "DROP DATABASE",
    ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
    ast.DropTableSpaceStmt: "DROP TABLESPACE",
    ast.AlterSystemStmt: "ALTER SYSTEM",
    ast.CreateSubscriptionStmt: "CREATE SUBSCRIPTION",
    ast.DropSubscriptionStmt: "DROP SUBSCRIPTION",
}


def transaction_control(node: Any) -> str | None:
    """The words of a statement that controls the transaction itself, else None."""
    if isinstance(node, ast.TransactionStmt) and node.kind is not None:
        return node.kind.name.removeprefix("TRANS_STMT_").lower().replace("_", " ")
    if isinstance(node, ast.VariableSetStmt) and node.name in SESSION_SETTINGS:
        return f"set {node.name.lower()}"
    return None


def _not_in_transaction(node: Any) -> str | None:  # noqa: PLR0911 - one case per statement kind
    """What PostgreSQL calls a statement that cannot run inside a transaction block."""
    if type(node) in NOT_IN_TRANSACTION:
        return NOT_IN_TRANSACTION[type(node)]
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt):
        if any(getattr(p, "defname", None) == "concurrently" for p in node.params or ()):
            return "REINDEX CONCURRENTLY"
        if node.kind in (
            ReindexObjectType.REINDEX_OBJECT_SYSTEM,
            ReindexObjectType.REINDEX_OBJECT_DATABASE,
        ):
            return f"REINDEX {node.kind.name.removeprefix('REINDEX_OBJECT_')}"
    if isinstance(node, ast.ClusterStmt) and node.relation is None:
        return "CLUSTER without a table"
    if isinstance(node, ast.DiscardStmt) and node.target == DiscardMode.DISCARD_ALL:
        return "DISCARD ALL"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_DetachPartition and cmd.def_.concurrent:
                return "DETACH PARTITION CONCURRENTLY"
    return None


def _role_change(node: Any) -> bool:
    return (
        isinstance(node, ast.VariableSetStmt)
        and node.name in ROLE_SETTINGS
        and node.kind != VariableSetKind.VAR_RESET
    )


def refusal(file: MigrationFile, statement: Statement) -> str | None:
    """Why the runner will not run this statement of this file, and what to do; else None."""
    node = statement.node
    words = transaction_control(node)
    if words is not None:
        return (
            f"{words.upper()} inside a migration: the runner owns the transaction and records "
            "history in it; remove it, and split work that must commit separately into its own "
            "migration"
        )
    if file.no_transaction:
        if _role_change(node):
            return (
                "a session-wide role change in a no-transaction migration: a run resumed after a "
                "failure starts past it and runs the rest as the runner; declare the role in the "
                "header instead (`-- mapperdb:role mapper_owner`), or use a transactional "
                "migration with `set local role`"
            )
        return None
    what = _not_in_transaction(node)
    if what is not None:
        return f"{what} cannot run inside the runner's transaction; {SPLIT}"
    return None
