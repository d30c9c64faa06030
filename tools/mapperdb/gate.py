"""``mapperdb check``: the whole PR gate, one stage after another.

Each stage returns a :class:`StageResult` holding :class:`~mapperdb.findings.Finding` objects,
so one renderer (:mod:`mapperdb.report`) serves them all. The gate fails (exit 1) when any
stage has an error-severity finding.

Stages, cheapest first: ``lint`` (the SQL gate, static), ``migrations`` (every migration up,
down to zero and up again on an ephemeral Azure-like server, as its non-superuser admin),
``synth`` (every environment's Terraform, through the synth cache) and ``policy`` (checkov over
what synth wrote).

With ``--changed-since REF`` a stage runs only when a file it reads changed since the merge base
with REF (:mod:`mapperdb.stage_inputs` says which files each stage reads); the others are
reported as skipped, with the reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import click
from rich.console import Console

from mapperdb import __version__, stage_inputs
from mapperdb.db import Connector
from mapperdb.errors import EXIT_FINDINGS, ConfigError, MapperdbError
from mapperdb.findings import Finding, Severity, counted
from mapperdb.migrate.files import MigrationSyntaxError
from mapperdb.migrate.runner import DriftError, MigrationFailed, Runner
from mapperdb.pg.binaries import SUPPORTED_MAJORS
from mapperdb.pg.ephemeral import EphemeralPostgres
from mapperdb.report import STAGE_FORMATS, RuleInfo, StageResult, ToolInfo, render_stages

GATE_DATABASE = "mapper_gate"
FORMATS = STAGE_FORMATS

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
    # With changed_since: the changed files (repository-relative), and stage -> those of them
    # it reads (a stage absent from it is skipped).
    changed: list[str] | None = None
    triggers: dict[str, list[str]] | None = None
    # The PostgreSQL major of the migrations stage's server (None: the newest Debian one).
    pg_major: int | None = None

    @property
    def migrations(self) -> Path:
        return self.repo / "sql" / "migrations"

    def relative(self, path: str | Path) -> str:
        """Paths in findings are relative to the repository, as code scanning expects."""
        return os.path.relpath(Path(path).resolve(), self.repo)


def _failure(ctx: GateContext, rule: str, exc: MapperdbError, path: Path, line: int = 1) -> Finding:
    return Finding(ctx.relative(path), line, 1, rule, Severity.ERROR, exc.message)


def _lint_since(ctx: GateContext) -> str | None:
    """Lint only the changed migrations when migrations are all that changed; when the linter
    or its configuration changed, its verdict on every file may have too."""
    if ctx.changed_since is None or ctx.triggers is None:
        return ctx.changed_since
    why = ctx.triggers.get("lint", [])
    only_sql = all(stage_inputs.matches(path, "sql/**") for path in why)
    return ctx.changed_since if only_sql else None


def lint_stage(ctx: GateContext) -> StageResult:
    """The SQL gate over every migration (or only those changed since a ref)."""
    from mapperdb.lint.api import lint

    result = lint([ctx.migrations], _lint_since(ctx))
    findings = [replace(f, file=ctx.relative(f.file)) for f in result.findings]
    counts = {sev: sum(f.severity is sev for f in findings) for sev in Severity}
    return StageResult(
        "lint",
        f"{counted(len(result.files), 'file')}: {counted(counts[Severity.ERROR], 'error')},"
        f" {counted(counts[Severity.WARNING], 'warning')}",
        findings,
    )


def migrations_stage(ctx: GateContext) -> StageResult:
    """Apply every migration to an ephemeral Azure-like server as its admin, revert them all,
    apply them again: proves each up runs without superuser and each down really reverses."""
    with EphemeralPostgres(major=ctx.pg_major) as pg:
        assert pg.install is not None
        server = f"PostgreSQL {pg.install.major}"
        note = pg.install.limitations()
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
        f"{len(applied)} applied as the Azure-like admin on {server}, {len(reverted)} reverted,"
        f" re-applied" + (f" ({note.split(': ', 1)[1]})" if note else ""),
        findings,
    )


def synth_stage(ctx: GateContext) -> StageResult:
    """Every environment's stack, in one process (one import of the azurerm bindings), or from
    the synth cache when nothing it is made from changed."""
    from mapperdb.infra.synth import synthesize

    done = synthesize(None, ctx.repo / "cdktf.out", ctx.repo / "infra" / "environments")
    ctx.stacks = done.paths
    return StageResult(
        "synth", f"{len(ctx.stacks)} stacks: {', '.join(sorted(ctx.stacks))}, {done.describe()}"
    )


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


def changed_files(repo: Path, ref: str) -> list[str]:
    """The files under ``repo`` changed since the merge base with ``ref`` (committed, staged,
    unstaged or untracked), repository-relative."""
    from mapperdb.lint.api import changes_since

    changed, _top = changes_since(ref, repo)
    relative = (Path(os.path.relpath(path, repo)) for path in changed)
    return sorted(rel.as_posix() for rel in relative if rel.parts[:1] != ("..",))


def _skip_reason(ctx: GateContext, name: str) -> str | None:
    if ctx.triggers is None or name in ctx.triggers:
        return None
    groups = {stage_inputs.group_of(path) for path in ctx.changed or ()}
    touched = sorted(g.name for g in groups if g is not None)
    if not touched:
        return f"nothing the gate reads changed since {ctx.changed_since}"
    return f"none of its inputs changed since {ctx.changed_since} (changed: {', '.join(touched)})"


def run_gate(
    ctx: GateContext,
    on_stage: Callable[[str], None] = lambda _name: None,
    only: tuple[str, ...] = (),
) -> list[StageResult]:
    """Run the stages in order (or only those named); policy needs synth, so it brings it.

    With ``ctx.changed_since``, a stage none of whose inputs changed is skipped (and says so).
    """
    wanted = set(only) | ({"synth"} if "policy" in only else set())
    if ctx.changed_since is not None and ctx.triggers is None:
        ctx.changed = changed_files(ctx.repo, ctx.changed_since)
        ctx.triggers = stage_inputs.triggers(ctx.changed)
    results = []
    for name, stage in STAGES:
        if wanted and name not in wanted:
            continue
        reason = _skip_reason(ctx, name)
        if reason is not None:
            results.append(StageResult(name, "skipped", skipped=reason))
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


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--changed-since",
    metavar="REF",
    help="Run only the stages whose inputs changed since the merge base with REF (SQL only:"
    " lint and migrations; infra/, policies/, environments, platform data: synth and policy;"
    " the tool or lock files: all); lint only the changed migrations.",
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
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
@click.option(
    "--pg",
    "major",
    type=click.Choice([str(m) for m in SUPPORTED_MAJORS]),
    help="PostgreSQL major of the migrations stage: 15 is Debian's, 17 (Azure's) and 18 are npm "
    "builds (pg_cron and pgaudit emulated). Default: the newest Debian server.",
)
def check(
    fmt: str, changed_since: str | None, repo: Path, stages: tuple[str, ...], major: str | None
) -> None:
    """The whole PR gate: SQL lint, migrations up/down/up on an ephemeral Azure-like server,
    synth of every environment (cached by a hash of its inputs), checkov policy.

    Output: text (default; error-level safety and security findings first), json ({"ok",
    "changed_since", "stages": [{"name", "ok", "status", "skipped", "summary", "duration_s",
    "counts", "findings"}]}), sarif (2.1.0, all findings; stages in the run's properties,
    skipped ones as notifications), github (annotations) or markdown (a job summary: a row per
    stage, then the findings that matter first). Exit 0 when every stage passes, 1 when any
    stage has an error finding, 2 on usage or environment errors.
    """
    console = Console(stderr=True)
    show = (
        (lambda name: console.print(f"[dim]running {name}…[/]"))
        if console.is_terminal
        else (lambda _n: None)
    )
    ctx = GateContext(
        repo=repo.resolve(),
        changed_since=changed_since,
        pg_major=int(major) if major else None,
    )
    cwd = Path.cwd()
    os.chdir(ctx.repo)  # the stages resolve repo-relative defaults (lint, synth) from here
    try:
        results = run_gate(ctx, show, stages)
    finally:
        os.chdir(cwd)
    output = render_stages(results, fmt, tool_info(), changed_since)
    if output:
        click.echo(output)
    if not all(r.ok for r in results):
        raise SystemExit(EXIT_FINDINGS)
