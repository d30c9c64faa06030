"""SYN001: the file parses as PostgreSQL (checked by the engine with PostgreSQL's own parser)."""

from __future__ import annotations

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule


class SyntaxError_(Rule):  # noqa: N801 - the builtin name is taken
    id = "SYN001"
    name = "syntax-error"
    severity = Severity.ERROR
    summary = "A statement PostgreSQL cannot parse."
    why = "The migration fails when it is applied; nothing else in the statement can be checked."
    instead = "Fix the statement; the message gives PostgreSQL's parser error and its position."
    bad = Example(sql="create tabel mapper.jobs (id bigint);\n")
    good = Example(
        sql="create table mapper.jobs (id bigint generated always as identity primary key);\n"
    )


RULE = SyntaxError_()
