"""Generates docs/rules.md from the rules themselves: ``python -m mapperdb.lint.docs [--write]``."""

from __future__ import annotations

import sys
from pathlib import Path

from mapperdb.lint.rule import Example, Rule
from mapperdb.lint.rules import registry

GROUPS = {
    "LOCK": "Lock and rewrite safety",
    "TYPE": "Types",
    "TEN": "Tenant security",
    "HYG": "Migration hygiene",
    "SYN": "Syntax",
    "STY": "Style",
}
HEADER = """\
# SQL gate rules

<!-- Generated from tools/mapperdb/lint/rules/ by `python -m mapperdb.lint.docs --write`. -->

`mapperdb lint` checks every migration with PostgreSQL's own parser (pglast) against the rules
below, replaying all earlier migrations first: "existing table" means one an earlier migration
created, and the tenant rules judge the schema the whole set ends with. Style is checked by
sqlfluff (postgres dialect, the repository's `.sqlfluff`); its findings carry sqlfluff's code as
`SQLFLUFF-<code>`.

Suppress one finding with a comment on or above its statement:

```sql
-- mapperdb:allow LOCK009 reason: column unused since release 2024.06
alter table mapper.orders drop column note;
```

A suppression without a reason, or naming an unknown rule, is itself an error (HYG003).

## Running it

```sh
mapperdb lint                                  # sql/migrations, text output
mapperdb lint sql/migrations/0007_x.up.sql     # one file, with its directory as schema context
mapperdb lint --changed-since origin/main      # only files changed since the merge base
mapperdb lint --format json|sarif|github       # machine-readable output
mapperdb lint --no-style                       # lock and tenant rules only (skips sqlfluff)
mapperdb lint db/migrations/0007_x             # one migration folder (with a folder pattern)
```

Exit status: 1 if any finding has severity `error`, 2 for usage errors (a missing path, a path
with no migration files of the configured pattern, bad settings, an unknown ref), 0 otherwise.
Output formats:

- `text`: one line per finding, `file:line:column: RULE-ID message`; error-level safety and
  security findings come first, then warnings, then style (`SQLFLUFF-*`, `STY*`), so a pile of
  style findings never hides the one that takes a lock.
- `json`: `{"findings": [{"rule", "severity", "file", "line", "column", "message"}]}`, sorted by
  file, line, column and rule; `severity` is `error`, `warning` or `info`. This shape is stable.
- `sarif`: SARIF 2.1.0 with every rule's description and help, for code scanning.
- `github`: GitHub Actions annotations (`::error file=...,line=...,col=...,title=RULE::...`).

## Configuration

Settings live in the repository's `pyproject.toml` (the repository root is the nearest
directory above the linted path with a `pyproject.toml` or `.git`, else the working directory),
validated on load; a bad value is one line, exit 2:

```toml
[tool.mapperdb.lint]
directory = "sql/migrations"                    # linted when no PATH is given
pattern = "{version:4}_{slug}.{direction}.sql"  # how migration files are named (the default)
select = ["LOCK", "TEN", "HYG", "SYN", "TYPE"]  # rule ids or prefixes; default: every rule
ignore = ["TYPE002", "SQLFLUFF-LT05"]           # rule ids or prefixes left out
severity = { TYPE001 = "warning" }              # re-graded rules: error, warning or info
style = true                                    # false: no sqlfluff stage (like --no-style)
```

`pattern` is a template relative to the migrations directory: `{version}` is digits
(`{version:4}` exactly four), `{slug}` lowercase words joined by underscores, `{direction}`
`up` or `down`, and `/` makes a folder per migration. Without `{direction}` every file is an up
migration and HYG001 (down files) does not apply. Common layouts:

| layout | pattern |
|---|---|
| this repository, golang-migrate | `{version:4}_{slug}.{direction}.sql` |
| timestamps, up only (Supabase, dbmate-like) | `{version:14}_{slug}.sql` |
| one folder per migration | `{version:4}_{slug}/{direction}.sql` |
| Prisma | `{version:14}_{slug}/migration.sql` |

A path with no file of the pattern is an error that names the pattern, never "0 files checked".
The file model (names, directives, checksums, statements) is the runner's own
(`tools/mapperdb/migrate/files.py`), so the gate and the runner agree on what a migration is.

Style settings are sqlfluff's `.sqlfluff` at the repository root plus any nested `.sqlfluff`
between the root and the linted file (nearer wins), whatever directory the command runs from;
user-level sqlfluff settings (`~/.sqlfluff`) are not read, so every machine lints alike.

From Python (the PR gate): `mapperdb.lint.api.lint(paths, changed_since, style=None,
config=None)` (settings from `pyproject.toml` unless `config` is a
`mapperdb.lint.config.LintConfig`) returns a
`LintResult` whose `findings` are `mapperdb.findings.Finding` objects and whose `exit_code` is
the command's; `mapperdb.lint.api.tool_info()` describes the rules for `mapperdb.report.render`.

| id | name | severity | what it flags |
|---|---|---|---|
"""


def _example(title: str, example: Example) -> list[str]:
    lines = [f"{title}:", "", "```sql"]
    files = example.migration_files()
    shown = [(n, t) for n, t in files if not n.endswith(".down.sql") or example.files]
    for name, text in shown:
        if len(shown) > 1:
            lines.append(f"-- file: {name}")
        lines.extend(text.rstrip("\n").splitlines())
    lines.append("```")
    if example.base:
        lines.append("")
        lines.append("(the base branch holds: " + ", ".join(n for n, _ in example.base) + ")")
    return [*lines, ""]


def _rule(rule: Rule) -> list[str]:
    lines = [
        f"### {rule.id} {rule.name}",
        "",
        f"**What it does.** {rule.summary} Severity: `{rule.severity.value}`."
        + ("" if rule.on_down else " Not checked in down migrations."),
        "",
        f"**Why is this bad?** {rule.why}",
        "",
        f"**Use instead.** {rule.instead}",
        "",
    ]
    return lines + _example("Bad", rule.bad) + _example("Good", rule.good)


def rules_markdown() -> str:
    rules = list(registry().values())
    lines = HEADER.splitlines()
    lines += [
        f"| [{r.id}](#{r.id.lower()}-{r.name}) | {r.name} | {r.severity.value} | {r.summary} |"
        for r in rules
    ]
    lines.append("")
    for prefix, title in GROUPS.items():
        group = [r for r in rules if r.prefix == prefix]
        if group:
            lines += [f"## {title} ({prefix})", ""]
            for rule in group:
                lines += _rule(rule)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = rules_markdown()
    if "--write" in argv:
        Path("docs").mkdir(exist_ok=True)
        Path("docs/rules.md").write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
