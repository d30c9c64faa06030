"""HYG001: every up migration has a down that does something."""

from __future__ import annotations

from collections.abc import Iterator

from pglast.parser import ParseError, scan

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, SetContext, SetHit
from mapperdb.lint.schema_model import Origin
from mapperdb.migrate.files import COMMENT_TOKENS

UP = "create table mapper.jobs (id bigint generated always as identity primary key);\n"


def _has_statement(text: str) -> bool:
    try:
        return any(t.name not in COMMENT_TOKENS for t in scan(text))
    except ParseError:  # unscannable text is not empty: SYN001 reports it
        return True


class DownNotEmpty(Rule):
    id = "HYG001"
    name = "down-not-empty"
    severity = Severity.ERROR
    summary = "An up migration has no down migration, or an empty one."
    why = (
        "Without a working down, a bad deploy cannot be rolled back by the runner: someone writes "
        "the reverse SQL by hand, under pressure, against production."
    )
    instead = "Write `NNNN_slug.down.sql` that reverses exactly what the up does."
    bad = Example(files=(("0001_jobs.up.sql", UP), ("0001_jobs.down.sql", "-- nothing to undo\n")))
    good = Example(
        files=(("0001_jobs.up.sql", UP), ("0001_jobs.down.sql", "drop table mapper.jobs;\n"))
    )

    def check_set(self, ctx: SetContext) -> Iterator[SetHit]:
        if not ctx.pattern.has_downs:
            return  # the naming pattern has no down files (up-only layouts)
        downs = {(f.version, f.slug): f for f in ctx.files if f.direction == "down"}
        for up in ctx.files:
            if up.direction != "up" or up.version is None:
                continue
            down = downs.get((up.version, up.slug))
            if down is None:
                yield SetHit(Origin(up.display, 0), f"{up.path.name} has no down migration")
            elif not _has_statement(down.text):
                yield SetHit(
                    Origin(up.display, 0),
                    f"{down.path.name} has no statement",
                    frozenset({down.display}),
                )


RULE = DownNotEmpty()
