"""Generates docs/policies.md from policies/: ``python -m mapperdb.policy.docs [--write]``.

Without ``--write`` it prints the page; a test compares the committed page with the output.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mapperdb.infra.synth import repo_root
from mapperdb.policy.catalog import Check, load_checks

DOC = "docs/policies.md"
HEADER = """\
# Infrastructure policies

<!-- Generated from policies/ by `python -m mapperdb.policy.docs --write`; do not edit. -->

`mapperdb policy` runs checkov over the synthesized stacks with checkov's built-in checks and
this repository's own checks (`policies/checkov/`, ids `CKV_LM_NNN`). How to add a check, and the
id ranges, are in [policies/checkov/README.md](../policies/checkov/README.md).

## Custom checks

| id | kind | name | resources | controls |
|---|---|---|---|---|
"""


def _row(check: Check) -> str:
    resources = ", ".join(f"`{r}`" for r in check.resources)
    return (
        f"| [{check.id}](#{check.id.lower()}) | {check.kind} | {check.name} | {resources} "
        f"| {', '.join(check.controls)} |"
    )


def _section(check: Check, root: Path) -> list[str]:
    source = check.path.relative_to(root).as_posix()
    return [
        f"### {check.id}",
        "",
        f"**{check.name}** ([source](../{source}))",
        "",
        f"Why: {check.why}",
        "",
        f"Fix: {check.fix}",
        "",
    ]


def render(root: Path) -> str:
    checks = load_checks(root)
    lines = HEADER.splitlines()
    lines += [_row(check) for check in checks]
    lines.append("")
    for check in checks:
        lines += _section(check, root)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    root = repo_root()
    text = render(root)
    if "--write" in argv:
        (root / DOC).write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
