"""``mapperdb synth [--env NAME]`` and ``mapperdb policy [--from DIR] [--env NAME] [...]``."""

from __future__ import annotations

from pathlib import Path

import click

from mapperdb import __version__
from mapperdb.errors import FindingsError
from mapperdb.findings import Severity, has_errors
from mapperdb.repo import repo_root
from mapperdb.report import FORMATS, render

DEFAULT_OUTDIR = "cdktf.out"  # where ``cdktf synth`` writes too


def _envs(names: tuple[str, ...]) -> list[str] | None:
    return list(names) or None


@click.command("synth")
@click.option("--env", "envs", multiple=True, help="Environment name; repeat; default all.")
def synth(envs: tuple[str, ...]) -> None:
    """Synthesize the Terraform JSON of one or all environment stacks into cdktf.out/.

    Output is cached by a hash of its inputs (infra code, environment files, platform data,
    cdktf.json, lock files, tool versions) in ~/.cache/mapperdb/synth ($MAPPERDB_CACHE_DIR/synth
    when set; MAPPERDB_SYNTH_CACHE=off disables it), shared with ``mapperdb check``.
    """
    from mapperdb.infra.synth import synthesize

    root = repo_root()
    done = synthesize(_envs(envs), root / DEFAULT_OUTDIR)
    for name, path in done.paths.items():
        click.echo(f"{name}: {path.relative_to(root)}")
    click.echo(f"synth: {done.describe()}", err=True)


@click.command("policy")
@click.option(
    "--from",
    "from_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Scan this synthesized output (cdktf.out) instead of synthesizing again.",
)
@click.option("--env", "envs", multiple=True, help="Environment name; repeat; default all.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--report",
    "report_fmt",
    type=click.Choice(("markdown", "json")),
    help="Print the compliance report (policies/compliance) instead of the findings.",
)
def policy(from_dir: Path | None, envs: tuple[str, ...], fmt: str, report_fmt: str | None) -> None:
    """checkov (stock and policies/checkov checks), waivers and SQL-vs-infra checks; offline.

    Synthesizes first unless --from names an existing output. A failure waived in
    policies/waivers.toml is reported as info; any other failure, an expired waiver and a waiver
    that matches nothing are errors (exit 1). Output formats are those of ``mapperdb lint``
    (json: {"findings": [...]}, sarif, github). --report prints, per environment, each control
    of policies/compliance as pass, fail, waived or not covered, with its evidence; the findings
    then go to stderr as text. docs/policies.md describes the checks, waivers and controls.
    """
    from mapperdb.infra.policy import scan
    from mapperdb.policy.catalog import load_checks, tool_info

    root = repo_root()
    if from_dir is None:
        from mapperdb.infra.synth import synthesize

        from_dir = root / DEFAULT_OUTDIR
        synthesize(_envs(envs), from_dir)
    result = scan(from_dir, _envs(envs), root=root)
    findings = result.findings
    tool = tool_info(root, __version__)
    if report_fmt:
        from mapperdb.lint.api import lint
        from mapperdb.policy import compliance

        controls = compliance.load_controls(root)
        lint_findings = lint([root / "sql/migrations"]).findings
        serving = {check.id: check.controls for check in load_checks(root)}
        statuses = compliance.report(controls, result, lint_findings, serving)
        render_report = compliance.to_json if report_fmt == "json" else compliance.to_markdown
        click.echo(render_report(statuses), nl=False)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        click.echo(render(errors, "text", tool), nl=False, err=True)
    else:
        click.echo(render(findings, fmt, tool), nl=False)
    if fmt == "text" or report_fmt:
        waived = sum(f.severity is Severity.INFO for f in findings)
        click.echo(
            f"{len(findings) - waived} error(s), {waived} waived failure(s)"
            f" in {len(result.environments)} stack(s): {', '.join(result.environments)}",
            err=True,
        )
    if has_errors(findings):
        raise FindingsError("policy failures not waived in policies/waivers.toml")
