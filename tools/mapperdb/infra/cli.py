"""``mapperdb synth [--env NAME]`` and ``mapperdb policy [--env NAME] [--format text|json]``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from mapperdb.errors import FindingsError
from mapperdb.findings import has_errors
from mapperdb.infra.policy import run_checkov
from mapperdb.infra.synth import repo_root
from mapperdb.infra.synth import synth as run_synth

DEFAULT_OUTDIR = "cdktf.out"  # where ``cdktf synth`` writes too


def _envs(names: tuple[str, ...]) -> list[str] | None:
    return list(names) or None


@click.command("synth")
@click.option("--env", "envs", multiple=True, help="Environment name; repeat; default all.")
def synth(envs: tuple[str, ...]) -> None:
    """Synthesize the Terraform JSON of one or all environment stacks into cdktf.out/."""
    root = repo_root()
    for name, path in run_synth(_envs(envs), root / DEFAULT_OUTDIR).items():
        click.echo(f"{name}: {path.relative_to(root)}")


@click.command("policy")
@click.option("--env", "envs", multiple=True, help="Environment name; repeat; default all.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def policy(envs: tuple[str, ...], fmt: str) -> None:
    """Synthesize, then run checkov's checks over the stacks; exit 1 on unexplained failures."""
    root = repo_root()
    paths = run_synth(_envs(envs), root / DEFAULT_OUTDIR)
    # Findings name files relative to where the command runs, as editors and CI annotations want.
    findings = run_checkov([Path(os.path.relpath(path)) for path in paths.values()])
    if fmt == "json":
        click.echo(json.dumps([f.as_json() for f in sorted(findings)], indent=2))
    else:
        for f in sorted(findings):
            click.echo(f"{f.file}:{f.line}: {f.severity.value}: {f.rule} {f.message}")
        click.echo(f"{len(findings)} finding(s) in {len(paths)} stack(s)")
    if has_errors(findings):
        raise FindingsError("checkov found failures not explained in docs/infra.md")
