"""``mapperdb check``: the whole PR gate, one stage after another.

Each stage returns a :class:`StageResult` holding :class:`~mapperdb.findings.Finding` objects,
so one renderer (:mod:`mapperdb.report`) serves them all. The gate fails (exit 1) when any
stage has an error-severity finding.

Stages, cheapest first: ``lint`` (the SQL gate, static), ``migrations`` (every migration up,
down to zero and up again on an ephemeral Azure-like server, as its non-superuser admin),
``synth`` (every environment's Terraform) and ``policy`` (checkov over what synth wrote).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from mapperdb import __version__
from mapperdb.db import Connector
from mapperdb.errors import EXIT_FINDINGS, ConfigError, MapperdbError
from mapperdb.findings import Finding, Severity
from mapperdb.migrate.files import MigrationSyntaxError
from mapperdb.migrate.runner import DriftError, MigrationFailed, Runner
from mapperdb.pg.ephemeral import EphemeralPostgres
from mapperdb.report import RuleInfo, ToolInfo, render

GATE_DATABASE = "mapper_gate"
FORMATS = ("text", "json", "sarif", "github")

# The gate's own rules, for SARIF; the lint rules describe themselves and checkov's are named
# by their ids.
GATE_RULES = {
    "MIG001": RuleInfo(
        "MIG001",
        "migration-fails",
        "A migration fails on an Azure-like server as its admin",
        "Every migration is applied, reverted and applied again on an ephemeral server shaped "
        "like Azure Flexible Server, as a non-superuser admin. Fix the statement named.",
    ),
    "MIG002": RuleInfo("MIG002", "migration-unparsable", "PostgreSQL's parser rejects a file"),
    "MIG003": RuleInfo("MIG003", "migration-set-invalid", "The migration files are inconsistent"),
}


@dataclass
class GateContext:
    repo: Path
    changed_since: str | None = None
    stacks: dict[str, Path] = field(default_factory=dict)  # written by synth, read by policy

    @property
    def migrations(self) -> Path:
        return self.repo / "sql" / "migrations"

    def relative(self, path: str | Path) -> str:
        """Paths in findings are relative to the repository, as code scanning expects."""
        return os.path.relpath(Path(path).resolve(), self.repo)


@dataclass
class StageResult:
    name: str
    summary: str
    findings: list[Finding] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "summary": self.summary,
            "duration_s": round(self.duration_s, 3),
            "findings": [f.as_json() for f in self.findings],
        }


def _failure(ctx: GateContext, rule: str, exc: MapperdbError, path: Path, line: int = 1) -> Finding:
    return Finding(ctx.relative(path), line, 1, rule, Severity.ERROR, exc.message)


def lint_stage(ctx: GateContext) -> StageResult:
    """The SQL gate over every migration (or only those changed since a ref)."""
    from mapperdb.lint.api import lint

    result = lint([ctx.migrations], ctx.changed_since)
    findings = [replace(f, file=ctx.relative(f.file)) for f in result.findings]
    counts = {sev: sum(f.severity is sev for f in findings) for sev in Severity}
    return StageResult(
        "lint",
        f"{len(result.files)} files: {counts[Severity.ERROR]} errors,"
        f" {counts[Severity.WARNING]} warnings",
        findings,
    )


def migrations_stage(ctx: GateContext) -> StageResult:
    """Apply every migration to an ephemeral Azure-like server as its admin, revert them all,
    apply them again: proves each up runs without superuser and each down really reverses."""
    with EphemeralPostgres() as pg:
        pg.create_database(GATE_DATABASE)
        runner = Runner(Connector(pg.admin_conninfo(GATE_DATABASE)), ctx.migrations)
        try:
            applied = runner.up()
            reverted = runner.down(to=0)
            runner.up()
            drift = runner.drift()
        except MigrationFailed as exc:
            return StageResult(
                "migrations",
                "a migration failed",
                [_failure(ctx, "MIG001", exc, exc.path, exc.line)],
            )
        except MigrationSyntaxError as exc:
            return StageResult(
                "migrations",
                "a migration does not parse",
                [_failure(ctx, "MIG002", exc, ctx.migrations)],
            )
        except (DriftError, ConfigError) as exc:  # also bad names, missing downs, directives
            return StageResult(
                "migrations",
                "the migration set is invalid",
                [_failure(ctx, "MIG003", exc, ctx.migrations)],
            )
    findings = [_failure(ctx, "MIG003", MapperdbError(d.message), ctx.migrations) for d in drift]
    return StageResult(
        "migrations",
        f"{len(applied)} applied as the Azure-like admin, {len(reverted)} reverted, re-applied",
        findings,
    )


def synth_stage(ctx: GateContext) -> StageResult:
    """Every environment's stack, in one process (one import of the azurerm bindings)."""
    from mapperdb.infra.synth import synth

    ctx.stacks = synth(None, ctx.repo / "cdktf.out", ctx.repo / "infra" / "environments")
    return StageResult("synth", f"{len(ctx.stacks)} stacks: {', '.join(sorted(ctx.stacks))}")


def policy_stage(ctx: GateContext) -> StageResult:
    """checkov (stock and policies/checkov), waivers, cross-layer checks; offline."""
    from mapperdb.infra.policy import evaluate

    stacks_dir = next(iter(ctx.stacks.values())).parents[2]  # <dir>/stacks/<env>/cdk.tf.json
    findings = evaluate(stacks_dir, list(ctx.stacks))
    findings = [replace(f, file=ctx.relative(f.file)) for f in findings]
    accepted = sum(f.severity is not Severity.ERROR for f in findings)
    return StageResult(
        "policy",
        f"checkov over {len(ctx.stacks)} stacks: {len(findings) - accepted} error(s),"
        f" {accepted} waived in policies/waivers.toml",
        findings,
    )


STAGES: list[tuple[str, Callable[[GateContext], StageResult]]] = [
    ("lint", lint_stage),
    ("migrations", migrations_stage),
    ("synth", synth_stage),
    ("policy", policy_stage),
]
STAGE_NAMES = tuple(name for name, _ in STAGES)


def run_gate(
    ctx: GateContext,
    on_stage: Callable[[str], None] = lambda _name: None,
    only: tuple[str, ...] = (),
) -> list[StageResult]:
    """Run the stages in order (or only those named); policy needs synth, so it brings it."""
    wanted = set(only) | ({"synth"} if "policy" in only else set())
    results = []
    for name, stage in STAGES:
        if wanted and name not in wanted:
            continue
        on_stage(name)
        started = time.monotonic()
        result = stage(ctx)
        result.duration_s = time.monotonic() - started
        results.append(result)
    return results


def tool_info() -> ToolInfo:
    from mapperdb.lint.api import tool_info as lint_tool_info

    return ToolInfo("mapperdb-check", __version__, None, {**lint_tool_info().rules, **GATE_RULES})


def render_text(results: list[StageResult]) -> str:
    lines = []
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        lines.append(f"{mark} {r.name:<12} {r.summary} ({r.duration_s:.1f} s)")
        # Accepted (info) findings are in the JSON and SARIF output; text shows what to act on.
        lines.extend(
            f"     {f.file}:{f.line}:{f.column}: {f.rule} {' '.join(f.message.split())}"
            for f in r.findings
            if f.severity is not Severity.INFO
        )
    lines.append("gate: passed" if all(r.ok for r in results) else "gate: FAILED")
    return "\n".join(lines)


def render_gate(results: list[StageResult], fmt: str) -> str:
    if fmt == "text":
        return render_text(results)
    if fmt == "json":
        ok = all(r.ok for r in results)
        return json.dumps({"ok": ok, "stages": [r.as_json() for r in results]}, indent=2)
    findings = [f for r in results for f in r.findings]
    if fmt == "github":  # annotations are for what a reviewer must act on
        findings = [f for f in findings if f.severity is not Severity.INFO]
    return render(findings, fmt, tool_info()).rstrip("\n")


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--changed-since", metavar="REF", help="Lint only files changed since this git ref.")
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Repository root.",
)
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(STAGE_NAMES),
    help="Run only this stage; repeat for several (default: all, in order).",
)
def check(fmt: str, changed_since: str | None, repo: Path, stages: tuple[str, ...]) -> None:
    """The whole PR gate: SQL lint, migrations up/down/up on an ephemeral Azure-like server,
    synth of every environment, checkov policy.

    Output: text (default), json ({"ok", "stages": [{"name", "ok", "summary", "duration_s",
    "findings"}]}), sarif (2.1.0, all findings) or github (annotations). Exit 0 when every
    stage passes, 1 when any stage has an error finding, 2 on usage or environment errors.
    """
    console = Console(stderr=True)
    show = (
        (lambda name: console.print(f"[dim]running {name}…[/]"))
        if console.is_terminal
        else (lambda _n: None)
    )
    ctx = GateContext(repo=repo.resolve(), changed_since=changed_since)
    cwd = Path.cwd()
    os.chdir(ctx.repo)  # the stages resolve repo-relative defaults (lint, synth) from here
    try:
        results = run_gate(ctx, show, stages)
    finally:
        os.chdir(cwd)
    output = render_gate(results, fmt)
    if output:
        click.echo(output)
    if not all(r.ok for r in results):
        raise SystemExit(EXIT_FINDINGS)
