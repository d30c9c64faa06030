"""``mapperdb deploy --env NAME [--validate-only | --dry-run] [--plan FILE] [--allow-replace ...]``
(the command; the work is in deployment.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from mapperdb import __version__
from mapperdb.db import describe
from mapperdb.deploy.deployment import (
    DEFAULT_PLAN,
    Deployment,
    PlanReport,
    Target,
    policy_findings,
    summary_paths,
)
from mapperdb.deploy.plan import PlanSummary
from mapperdb.deploy.steps import Steps
from mapperdb.errors import ConfigError, FindingsError
from mapperdb.findings import Severity, has_errors
from mapperdb.report import ToolInfo, render

# Where `cdktf synth` and `mapperdb synth` write (cdktf.json); mapperdb.infra, which imports the
# infra code, is imported only when a command needs it, so this module imports without CDKTF.
OUTDIR = "cdktf.out"
STACKS = f"{OUTDIR}/stacks"
STACK_FILE = "cdk.tf.json"
MIGRATIONS = "sql/migrations"
ENTRA_ADMIN_TYPE = "azurerm_postgresql_flexible_server_active_directory_administrator"


def _validate(root: Path, env: str, steps: Steps) -> Path:
    """Environment file, synth, policy; no cloud, no credentials. Returns the stack file.

    ``synth`` validates the environment file before the slow import, so a broken file stops
    here in a second with one line naming the field.
    """
    from mapperdb.infra.synth import synth

    paths = steps.run(
        "environment file + synth",
        lambda: synth([env], root / OUTDIR, root / "infra/environments"),
        lambda p: str(Path(os.path.relpath(p[env]))),
    )
    assert paths is not None
    stack = Path(os.path.relpath(paths[env]))
    findings = steps.run(
        "policy",
        lambda: policy_findings(stack),
        lambda f: (
            f"{sum(x.severity is not Severity.INFO for x in f)} unexplained, "
            f"{sum(x.severity is Severity.INFO for x in f)} accepted failure(s)"
        ),
    )
    assert findings is not None
    if has_errors(findings):
        errors = [f for f in findings if f.severity is not Severity.INFO]
        click.echo(render(errors, "text", ToolInfo("mapperdb-deploy", __version__)), nl=False)
        raise FindingsError(f"policy: {len(errors)} failure(s) in {stack} not explained")
    return paths[env]


def entra_user(stack_file: Path) -> str | None:
    """The server's Entra admin group, read from the stack that is deployed (the reviewed
    artifact), not from today's environment file."""
    try:
        stack = json.loads(stack_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{stack_file}: not a synthesized stack: {exc}") from None
    admins = (stack.get("resource") or {}).get(ENTRA_ADMIN_TYPE) or {}
    names = [str(a["principal_name"]) for a in admins.values() if a.get("principal_name")]
    return names[0] if names else None


def _print_plan(report: PlanReport, allowed: tuple[str, ...]) -> None:
    summary = report.summary
    for line in summary.lines():
        click.echo(line)
    touched = {c.address for c in summary.changes if c.destructive}
    for address in allowed:
        if address not in touched:
            click.echo(
                f"note: --allow-replace {address}: this plan neither replaces nor destroys it"
            )
    if report.migrations is None:
        click.echo("migrations: no server yet; every migration runs after the apply")
    else:
        click.echo(f"migrations: {len(report.migrations)} to apply")
        for step in report.migrations:
            click.echo(f"  {step.direction:<4} {step.migration.label}")
    json_path, md_path = summary_paths(report.plan_file)
    click.echo(f"summary: {json_path} and {md_path}")


def _print_summary(env: str, summary: PlanSummary, steps: Steps, target: str) -> None:
    click.echo(f"deployed {env}: plan {summary.plan_sha256[:12]} ({summary.headline()})")
    click.echo(f"database: {target}")
    for line in steps.table():
        click.echo(line)


@click.command("deploy")
@click.option("--env", "env", required=True, help="Environment (infra/environments/NAME.toml).")
@click.option(
    "--validate-only",
    is_flag=True,
    help="Environment file, synth, policy: no cloud, no credentials (what a PR runs).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Also terraform init + plan -out, the plan summary, and migrate plan; changes nothing.",
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The saved plan: written by --dry-run, applied otherwise "
    f"[default: {STACKS}/ENV/{DEFAULT_PLAN}].",
)
@click.option(
    "--allow-replace",
    "allowed",
    multiple=True,
    metavar="ADDRESS",
    help="Accept the destroy or replacement of this protected resource; repeat.",
)
def deploy(
    env: str,
    validate_only: bool,
    dry_run: bool,
    plan_file: Path | None,
    allowed: tuple[str, ...],
) -> None:
    """Deploy one environment: infrastructure from a reviewed plan, then migrations.

    \b
    --validate-only  environment file, synth, policy (no cloud, no credentials)
    --dry-run        + terraform init/plan -out, plan summary, migrate plan; exit 1 when the
                     plan destroys or replaces a protected resource not named by --allow-replace
    (neither)        apply exactly the saved plan (a stale one is refused), migrate up as the
                     deployer's Entra identity, migrate verify, smoke check; a rerun after a
                     failure resumes (done steps are recorded per plan)

    The database is DATABASE_URL, else the stack's server_fqdn output with the environment's
    Entra admin group as user and a token from DefaultAzureCredential (no password). Terraform
    is the binary on PATH (or MAPPERDB_TERRAFORM). See docs/infra.md, "How a pipeline deploys".
    """
    if validate_only and dry_run:
        raise ConfigError("--validate-only and --dry-run exclude each other; choose one")
    if validate_only and (plan_file or allowed):
        raise ConfigError("--validate-only takes neither --plan nor --allow-replace")
    from mapperdb.repo import repo_root

    root = repo_root()
    steps = Steps()
    workdir = root / STACKS / env
    plan_path = plan_file or workdir / DEFAULT_PLAN
    if validate_only or dry_run:
        _validate(root, env, steps)
        if validate_only:
            click.echo(f"{env}: valid (environment file, synth, policy)")
            return
    elif not (workdir / STACK_FILE).is_file():
        raise ConfigError(
            f"no synthesized stack at {workdir / STACK_FILE}; apply runs on the plan job's "
            f"output: run mapperdb deploy --env {env} --dry-run first"
        )
    target = Target(
        env=env,
        workdir=workdir,
        migrations=root / MIGRATIONS,
        entra_user=entra_user(workdir / STACK_FILE),
    )
    deployment = Deployment.for_target(target, steps)
    if dry_run:
        report = deployment.plan(plan_path, allowed)
        _print_plan(report, allowed)
        if report.summary.blocked:
            raise FindingsError(
                f"the plan destroys or replaces {len(report.summary.blocked)} protected "
                "resource(s); rerun with --allow-replace ADDRESS for each if that is intended"
            )
        return
    summary = deployment.apply(plan_path, allowed)
    conninfo = target.database(deployment.terraform.outputs())
    _print_summary(env, summary, steps, describe(conninfo) if conninfo else "unknown")
