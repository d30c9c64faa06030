"""STY001: sqlfluff could not parse a statement PostgreSQL accepts (checked by the style stage)."""

from __future__ import annotations

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule
from mapperdb.lint.rules._common import PARTITIONED


class StyleUnparsed(Rule):
    id = "STY001"
    name = "style-not-checked"
    severity = Severity.WARNING
    summary = (
        "sqlfluff cannot parse a statement that PostgreSQL parses, so its style is not checked."
    )
    why = (
        "sqlfluff's PostgreSQL grammar has gaps; a statement it cannot parse gets no style "
        "checks, and the gate says so instead of skipping it silently."
    )
    instead = (
        "Nothing to change in the SQL; review the statement's style by eye (or report the gap "
        "to sqlfluff)."
    )
    bad = Example(
        setup=PARTITIONED,
        sql="-- mapperdb:no-transaction\n"
        "alter table mapper.audit_records\n"
        "    detach partition mapper.audit_records_2026_01 concurrently;\n",
    )
    good = Example(
        setup=PARTITIONED,
        sql="comment on table mapper.audit_records is 'Audit trail, one partition a month.';\n",
    )


RULE = StyleUnparsed()
