"""HYG005: a migration leaves transaction control to the runner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, StatementContext
from mapperdb.migrate.guard import transaction_control

TABLE = "create table mapper.jobs (id bigint generated always as identity primary key);\n"


class TransactionControl(Rule):
    id = "HYG005"
    name = "no-transaction-control"
    severity = Severity.ERROR
    node_types = (ast.TransactionStmt, ast.VariableSetStmt)
    summary = (
        "BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION or SET TRANSACTION inside a "
        "migration file."
    )
    why = (
        "The runner wraps each migration in one transaction (or runs it in autocommit when it "
        "says `-- mapperdb:no-transaction`); a COMMIT in the file splits it, so a later failure "
        "leaves the first half applied and the history table unaware of it. The runner refuses "
        "such a file before running any of it."
    )
    instead = (
        "Remove the transaction statements; split work that must commit separately into its own "
        "migration, or mark the file `-- mapperdb:no-transaction`."
    )
    bad = Example(sql="begin;\n" + TABLE + "commit;\n")
    good = Example(sql=TABLE)

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        word = transaction_control(node)
        if word is not None:
            yield (
                node,
                f"transaction control ({word}) inside a migration; the runner owns transactions",
            )


RULE = TransactionControl()
