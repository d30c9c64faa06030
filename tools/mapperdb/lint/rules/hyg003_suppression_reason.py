"""HYG003: every suppression names a known rule and gives a reason (checked by the engine)."""

from __future__ import annotations

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule
from mapperdb.lint.rules._common import ORDERS

DROP = "alter table mapper.orders drop column note;\n"


class SuppressionReason(Rule):
    id = "HYG003"
    name = "suppression-needs-reason"
    severity = Severity.ERROR
    summary = "A `-- mapperdb:allow` comment without `reason:` text, or naming an unknown rule."
    why = (
        "A suppression turns off a safety check for one statement; without a reason the reviewer "
        "cannot judge it and the next reader cannot tell whether it still holds."
    )
    instead = (
        "Write `-- mapperdb:allow RULE-ID reason: <why this is safe here>` on or above the "
        "statement."
    )
    bad = Example(setup=ORDERS, sql="-- mapperdb:allow LOCK009\n" + DROP)
    good = Example(
        setup=ORDERS, sql="-- mapperdb:allow LOCK009 reason: unused since 2024.06\n" + DROP
    )


RULE = SuppressionReason()
