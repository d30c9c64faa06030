"""``mapperdb lint``: the SQL review gate's command line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from mapperdb.errors import EXIT_OK
from mapperdb.findings import Finding, Severity, counted
from mapperdb.report import FORMATS, ToolInfo, render

# severity -> (singular, plural) for the summary line
SEVERITIES = {
    "error": ("error", "errors"),
    "warning": ("warning", "warnings"),
    "info": ("info", "info"),
}


STYLE_RULES = ("SQLFLUFF-", "STY")


def safety_first(findings: list[Finding], tool: ToolInfo) -> str:
    """Text with error-level safety and security findings first, then other findings, then
    style, so that a pile of style findings never hides the one that takes a lock."""
    style = [f for f in findings if f.rule.startswith(STYLE_RULES)]
    safety = [f for f in findings if f not in style]
    errors = [f for f in safety if f.severity is Severity.ERROR]
    rest = [f for f in safety if f.severity is not Severity.ERROR]
    return "".join(render(group, "text", tool) for group in (errors, rest, style))


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--changed-since",
    metavar="REF",
    help="Lint only migrations changed since the merge base with REF (schema context stays whole).",
)
@click.option(
    "--no-style",
    is_flag=True,
    help="Skip the sqlfluff style stage (lock and tenant rules only); "
    "`style = false` under [tool.mapperdb.lint] does the same for good.",
)
@click.option("--rules-doc", is_flag=True, help="Print the rule catalog (docs/rules.md) and exit.")
def lint(
    paths: tuple[Path, ...], fmt: str, changed_since: str | None, no_style: bool, rules_doc: bool
) -> int:
    """Lint migrations: lock safety, tenant security (pglast) and style (sqlfluff).

    PATHS are migration directories or files (default: sql/migrations, or `directory` under
    [tool.mapperdb.lint] in pyproject.toml, where rule selection, severities, style and the
    file name pattern are set too). Suppress a finding with
    `-- mapperdb:allow RULE-ID reason: <text>` on or above its statement.
    Exit 1 on any error-severity finding, 2 on usage errors (a path without migration files
    of the configured pattern, bad settings), 0 otherwise. sqlfluff's verdict on each file is
    cached in ~/.cache/mapperdb/lint (keyed by its text, settings and versions;
    MAPPERDB_LINT_CACHE=off turns it off).
    """
    if rules_doc:
        from mapperdb.lint.docs import rules_markdown

        click.echo(rules_markdown(), nl=False)
        return EXIT_OK
    # Imported here so that `mapperdb lint --help` does not load the rules.
    from mapperdb.lint import api

    result = api.lint(list(paths), changed_since, style=False if no_style else None)
    if fmt == "text":
        click.echo(safety_first(result.findings, api.tool_info()), nl=False)
    else:
        click.echo(render(result.findings, fmt, api.tool_info()), nl=False)
    if fmt == "text":  # a person reads this; machine formats keep stdout to themselves
        counts = Counter(f.severity.value for f in result.findings)
        summary = ", ".join(
            f"{counts[s]} {words[counts[s] != 1]}" for s, words in SEVERITIES.items()
        )
        files = counted(len(result.files), "file")
        click.echo(f"mapperdb lint: {files} checked, {summary}", err=True)
    return result.exit_code
