"""HYG002: a migration already on the base branch is never edited (with --changed-since)."""

from __future__ import annotations

from collections.abc import Iterator

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, SetContext, SetHit
from mapperdb.lint.schema_model import Origin

UP = "create table mapper.jobs (id bigint generated always as identity primary key);\n"
DOWN = "drop table mapper.jobs;\n"
BASE = (("0001_jobs.up.sql", UP), ("0001_jobs.down.sql", DOWN))


class EditedMigration(Rule):
    id = "HYG002"
    name = "edited-migration"
    severity = Severity.ERROR
    summary = "A migration that is already on the base branch was edited or deleted."
    why = (
        "Databases that already ran the migration never run it again: the edit silently never "
        "reaches them, their schema drifts from new ones, and the runner's checksum check fails."
    )
    instead = "Leave applied migrations as they are; write a new migration that makes the change."
    bad = Example(
        base=BASE,
        files=(
            ("0001_jobs.up.sql", UP.replace(");", ", note text);")),
            ("0001_jobs.down.sql", DOWN),
        ),
    )
    good = Example(
        base=BASE,
        files=(
            *BASE,
            ("0002_jobs_note.up.sql", "alter table mapper.jobs add column note text;\n"),
            ("0002_jobs_note.down.sql", "alter table mapper.jobs drop column note;\n"),
        ),
    )

    def check_set(self, ctx: SetContext) -> Iterator[SetHit]:
        for display, status in sorted(ctx.edited.items()):
            verb = "deleted" if status == "D" else "edited"
            yield SetHit(Origin(display, 0), f"migration already on the base branch was {verb}")


RULE = EditedMigration()
