"""Generates docs/policies.md from policies/: ``python -m mapperdb.policy.docs [--write]``.

Without ``--write`` it prints the page; a test compares the committed page with the output.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mapperdb.policy.catalog import Check, load_checks
from mapperdb.repo import repo_root

DOC = "docs/policies.md"
WHERE = [
    ("to add", "edit", "proved by"),
    ("---", "---", "---"),
    (
        "a check",
        "`policies/checkov/ckv_lm_NNN_<slug>.py` or `.yaml`, and"
        " `tests/policies/fixtures/CKV_LM_NNN/{pass,fail}.tf.json`"
        " ([how](../policies/checkov/README.md))",
        "`tests/policies/test_checks.py` (discovers it)",
    ),
    (
        "a waiver",
        "a `[[waiver]]` in `policies/waivers.toml`: check, environments, resources, reason,"
        " owner, expires",
        "`mapperdb policy` (an expired or unused waiver fails)",
    ),
    (
        "a control",
        "a `[[control]]` in `policies/compliance/<framework>.toml`: id, title, checks,"
        " sql_rules, tests",
        "`tests/policies/test_compliance.py` (its evidence exists)",
    ),
]
HEADER = """\
# Infrastructure policies

<!-- Generated from policies/ by `python -m mapperdb.policy.docs --write`; do not edit. -->

`mapperdb policy` judges the synthesized stacks (the Terraform JSON a pipeline applies) with
one offline checkov run of checkov's built-in checks plus this repository's own
(`policies/checkov/`, ids `CKV_LM_NNN`), applies the waivers of `policies/waivers.toml`, and
adds the cross-layer checks that compare `sql/migrations` with each environment (`LMX*`).

```sh
mapperdb policy                                  # synth every environment, then judge it
mapperdb policy --from cdktf.out --env prod      # judge an existing output, no synth
mapperdb policy --format json|sarif|github       # findings as `mapperdb lint` writes them
mapperdb policy --from cdktf.out --report markdown|json   # compliance report per environment
```

Exit status: 1 when a failure is not waived, a waiver has expired or matches nothing, or a
cross-layer check fails; 2 for usage and environment errors (no such output, an unknown
environment, a malformed waiver, checkov missing); 0 otherwise. From Python (the gate):
`mapperdb.infra.policy.evaluate(stacks_dir, envs) -> list[Finding]`.

## Where things go

{where}

Then run `python -m mapperdb.policy.docs --write` to regenerate this page.

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


CROSS_LAYER_HEADER = """\
## Cross-layer checks

Python in `tools/mapperdb/policy/crosslayer.py`, run per environment by `mapperdb policy`; each
has a test that breaks it in `tests/policies/test_crosslayer.py`.

| id | what holds |
|---|---|
"""
WAIVERS_HEADER = """\
## Waivers

Generated from `policies/waivers.toml`. A waived failure is reported as info; when the waiver
expires, the failure fails the gate again, and a waiver that matches no failure fails it too.
Waivers are applied to checkov's results, not passed to it as `--skip-check`: a skip is global
to a check id (no environment, no resource) and cannot tell whether it suppressed anything.

| check | environments | resources | owner | expires | reason |
|---|---|---|---|---|---|
"""
CONTROLS_HEADER = """\
## Controls and their evidence

Generated from `policies/compliance/` and the checks' own `CONTROLS` (a check counts for every
control it names). `mapperdb policy --report markdown|json` gives each
control's status per environment: pass, fail, waived (with reason and expiry) or not covered;
a control whose evidence gives no result is not covered, never passing. Tests are listed as
evidence and run by pytest.

| control | framework | title | checks | SQL rules | tests |
|---|---|---|---|---|---|
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(root: Path) -> str:
    from mapperdb.infra.policy import WAIVERS_FILE
    from mapperdb.policy.compliance import evidence_checks, load_controls
    from mapperdb.policy.crosslayer import CHECKS as CROSS_LAYER
    from mapperdb.policy.waivers import load_waivers

    checks = load_checks(root)
    where = "\n".join(f"| {' | '.join(row)} |" for row in WHERE)
    lines = HEADER.replace("{where}", where).splitlines()
    lines += [_row(check) for check in checks]
    lines.append("")
    lines += CROSS_LAYER_HEADER.splitlines()
    lines += [f"| {rule} | {summary} |" for rule, summary in CROSS_LAYER.items()]
    lines.append("")
    lines += WAIVERS_HEADER.splitlines()
    for item in load_waivers(root / WAIVERS_FILE):
        w = item.waiver
        lines.append(
            f"| {w.check} | {', '.join(w.environments)} | `{w.resources}` | {w.owner} "
            f"| {w.expires} | {_cell(w.reason)} |"
        )
    lines.append("")
    lines += CONTROLS_HEADER.splitlines()
    serving = {check.id: check.controls for check in checks}
    for mapped in load_controls(root):
        c = mapped.control
        evidence = evidence_checks(c, serving)
        lines.append(
            f"| {c.id} | {mapped.framework} | {_cell(c.title)} | {', '.join(evidence) or '-'} "
            f"| {', '.join(c.sql_rules) or '-'} | {'<br>'.join(c.tests) or '-'} |"
        )
    lines += ["", "## Check reference", ""]
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
