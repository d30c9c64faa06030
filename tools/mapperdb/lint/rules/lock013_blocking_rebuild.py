"""LOCK013: no VACUUM FULL, CLUSTER or plain REINDEX in a migration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import ReindexObjectType

from mapperdb.findings import Severity
from mapperdb.lint.nodes import option_true
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.lint.rules._common import ORDERS


class VacuumFullCluster(Rule):
    id = "LOCK013"
    name = "no-blocking-rebuild"
    severity = Severity.ERROR
    node_types = (ast.VacuumStmt, ast.ClusterStmt, ast.ReindexStmt)
    summary = "VACUUM FULL, CLUSTER, or REINDEX without CONCURRENTLY."
    why = (
        "VACUUM FULL and CLUSTER rewrite the whole table and its indexes under an ACCESS "
        "EXCLUSIVE lock: the table is offline for the rewrite, and the disk needs room for a "
        "second copy. A plain REINDEX blocks writes to the table and reads through the index."
    )
    instead = (
        "Let autovacuum (tuned per table if needed) keep bloat in check; to reclaim space online "
        "use pg_repack, an extension Azure allows, as an operations task rather than a "
        "migration; rebuild indexes with REINDEX CONCURRENTLY in a no-transaction migration."
    )
    bad = Example(setup=ORDERS, sql="vacuum full mapper.orders;\n")
    good = Example(
        setup=ORDERS, sql="alter table mapper.orders set (autovacuum_vacuum_scale_factor = 0.02);\n"
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        if (
            isinstance(node, ast.VacuumStmt)
            and node.is_vacuumcmd
            and option_true(node.options, "full")
        ):
            yield node, "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock"
        elif isinstance(node, ast.ClusterStmt):
            yield node, "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock"
        elif (
            isinstance(node, ast.ReindexStmt)
            and node.kind != ReindexObjectType.REINDEX_OBJECT_SYSTEM  # LOCK018's, with its advice
            and not option_true(node.params, "concurrently")
        ):
            yield node, "REINDEX without CONCURRENTLY blocks writes while the index is rebuilt"


RULE = VacuumFullCluster()
