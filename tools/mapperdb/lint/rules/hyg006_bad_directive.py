"""HYG006: every ``-- mapperdb:`` directive of the header is one the runner knows, well formed."""

from __future__ import annotations

from mapperdb.findings import Severity
from mapperdb.lint.rule import Example, Rule

TABLE = "create table mapper.jobs (id bigint generated always as identity primary key);\n"


class BadDirective(Rule):
    """Checked by the engine, from the directives the migration file model reads."""

    id = "HYG006"
    name = "bad-directive"
    severity = Severity.ERROR
    summary = "A header directive the runner does not know, misplaced or with a bad value."
    why = (
        "The runner refuses the file (exit 2) when it comes to run it, in the pipeline, after the "
        "review. A `-- mapperdb:no-transaction` below the first line would otherwise leave a "
        "CREATE INDEX CONCURRENTLY inside a transaction, where PostgreSQL refuses it."
    )
    instead = (
        "Use the directives of docs/migrations.md (no-transaction on the first line, "
        "lock-timeout and statement-timeout with a duration, lock-retries with a whole number)."
    )
    bad = Example(sql="-- mapperdb:lock-timeout soon\n" + TABLE)
    good = Example(sql="-- mapperdb:lock-timeout 10s\n" + TABLE)


RULE = BadDirective()
