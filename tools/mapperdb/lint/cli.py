"""``mapperdb lint``: the SQL review gate's command line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from mapperdb.errors import EXIT_OK
from mapperdb.report import FORMATS, render

# severity -> (singular, plural) for the summary line
SEVERITIES = {
    "error": ("error", "errors"),
    "warning": ("warning", "warnings"),
    "info": ("info", "info"),
}


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--changed-since",
    metavar="REF",
    help="Lint only migrations changed since the merge base with REF (schema context stays whole).",
)
@click.option(
    "--no-style", is_flag=True, help="Skip the sqlfluff style stage (lock and tenant rules only)."
)
@click.option("--rules-doc", is_flag=True, help="Print the rule catalog (docs/rules.md) and exit.")
def lint(
    paths: tuple[Path, ...], fmt: str, changed_since: str | None, no_style: bool, rules_doc: bool
) -> int:
    """Lint migrations: lock safety, tenant security (pglast) and style (sqlfluff).

    PATHS are migration directories or files (default: sql/migrations). Suppress a finding with
    `-- mapperdb:allow RULE-ID reason: <text>` on or above its statement.
    Exit 1 on any error-severity finding, 2 on usage errors, 0 otherwise.
    """
    if rules_doc:
        from mapperdb.lint.docs import rules_markdown

        click.echo(rules_markdown(), nl=False)
        return EXIT_OK
    # Imported here so that `mapperdb lint --help` does not load the rules.
    from mapperdb.lint import api

    result = api.lint(list(paths), changed_since, style=not no_style)
    click.echo(render(result.findings, fmt, api.tool_info()), nl=False)
    if fmt == "text":  # a person reads this; machine formats keep stdout to themselves
        counts = Counter(f.severity.value for f in result.findings)
        summary = ", ".join(
            f"{counts[s]} {words[counts[s] != 1]}" for s, words in SEVERITIES.items()
        )
        click.echo(f"mapperdb lint: {len(result.files)} files checked, {summary}", err=True)
    return result.exit_code
