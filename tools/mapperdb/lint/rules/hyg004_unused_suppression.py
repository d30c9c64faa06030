"""HYG004: a suppression that suppresses nothing is removed (checked by the engine)."""

from __future__ import annotations

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule
from mapperdb.lint.rules._common import ORDERS


class UnusedSuppression(Rule):
    id = "HYG004"
    name = "unused-suppression"
    severity = Severity.WARNING
    summary = "A `-- mapperdb:allow` comment that matched no finding."
    why = (
        "A stale suppression hides the next real finding on that statement and tells readers a "
        "risk exists where there is none."
    )
    instead = "Delete the comment, or move it on or above the statement it is meant for."
    bad = Example(
        setup=ORDERS,
        sql=(
            "-- mapperdb:allow LOCK009 reason: left over\nalter table mapper.orders add column tag "
            "text;\n"
        ),
    )
    good = Example(setup=ORDERS, sql="alter table mapper.orders add column tag text;\n")


RULE = UnusedSuppression()
