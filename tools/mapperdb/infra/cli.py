"""``mapperdb synth [--env NAME]`` and ``mapperdb policy [--env NAME] [--format text|json]``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mapperdb import __version__
from mapperdb.errors import FindingsError
from mapperdb.findings import Severity, has_errors
from mapperdb.infra.policy import run_checkov
from mapperdb.infra.synth import repo_root, synthesize
from mapperdb.infra.synth import synth as run_synth
from mapperdb.report import FORMATS, ToolInfo, render

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
    root = repo_root()
    done = synthesize(_envs(envs), root / DEFAULT_OUTDIR)
    for name, path in done.paths.items():
        click.echo(f"{name}: {path.relative_to(root)}")
    click.echo(f"synth: {done.describe()}", err=True)


@click.command("policy")
@click.option("--env", "envs", multiple=True, help="Environment name; repeat; default all.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def policy(envs: tuple[str, ...], fmt: str) -> None:
    """Synthesize, then run checkov's checks over the stacks; exit 1 on unexplained failures.

    Failures explained in docs/infra.md are reported as info; any other is an error. Output
    formats are those of ``mapperdb lint`` (json: {"findings": [...]}, sarif, github).
    """
    root = repo_root()
    paths = run_synth(_envs(envs), root / DEFAULT_OUTDIR)
    # Findings name files relative to where the command runs, as editors and CI annotations want.
    findings = run_checkov([Path(os.path.relpath(path)) for path in paths.values()])
    tool = ToolInfo("mapperdb-policy (checkov)", __version__)
    click.echo(render(findings, fmt, tool), nl=False)
    if fmt == "text":
        accepted = sum(f.severity is Severity.INFO for f in findings)
        click.echo(
            f"{len(findings) - accepted} unexplained, {accepted} accepted failure(s)"
            f" in {len(paths)} stack(s)",
            err=True,
        )
    if has_errors(findings):
        raise FindingsError("checkov found failures not explained in docs/infra.md")
