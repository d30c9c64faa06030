"""HYG007: every .sql file in a migrations directory is named like a migration."""

from __future__ import annotations

from collections.abc import Iterator

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule, SetContext, SetHit
from mapperdb.lint.schema_model import Origin

UP = "create table mapper.jobs (id bigint generated always as identity primary key);\n"
DOWN = "drop table mapper.jobs;\n"
PAIR = (("0001_jobs.up.sql", UP), ("0001_jobs.down.sql", DOWN))


class FileName(Rule):
    id = "HYG007"
    name = "migration-file-name"
    severity = Severity.ERROR
    summary = "A .sql file among the migrations that the naming pattern does not name."
    why = (
        "The runner refuses a migrations directory with a file it cannot place (exit 2), in the "
        "pipeline after the review; and the gate can only lint such a file without its place in "
        "the order, so its schema context is a guess."
    )
    instead = (
        "Name it like the others (`NNNN_slug.up.sql` and `NNNN_slug.down.sql` by default, or "
        "`pattern` under [tool.mapperdb.lint]), or move SQL that is not a migration (seeds, "
        "scratch queries) out of the directory."
    )
    bad = Example(files=(*PAIR, ("0002-Add-Note.sql", "select 1;\n")))
    good = Example(
        files=(
            *PAIR,
            ("0002_jobs_note.up.sql", "alter table mapper.jobs add column note text;\n"),
            ("0002_jobs_note.down.sql", "alter table mapper.jobs drop column note;\n"),
        )
    )

    def check_set(self, ctx: SetContext) -> Iterator[SetHit]:
        for file in ctx.files:
            if file.name is None:
                yield SetHit(
                    Origin(file.display, 0),
                    f"{file.display} is not named like {ctx.pattern.template}; the runner "
                    "refuses the directory: rename it or move it out",
                )


RULE = FileName()
