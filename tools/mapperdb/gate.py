"""``mapperdb check``: the whole PR gate, one stage after another.

Each stage returns a :class:`StageResult` with :class:`~mapperdb.findings.Finding` objects,
so one renderer serves them all. The gate fails (exit 1) if any stage fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from mapperdb.db import Connector
from mapperdb.errors import EXIT_FINDINGS, MapperdbError
from mapperdb.findings import Finding, Severity
from mapperdb.migrate.files import MigrationSyntaxError
from mapperdb.migrate.runner import DriftError, MigrationFailed, Runner
from mapperdb.pg.ephemeral import EphemeralPostgres

GATE_DATABASE = "mapper_gate"


@dataclass(frozen=True)
class GateContext:
    repo: Path
    changed_since: str | None = None

    @property
    def migrations(self) -> Path:
        return self.repo / "sql" / "migrations"


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


def _failure(rule: str, exc: MapperdbError, path: Path, line: int = 1) -> Finding:
    return Finding(str(path), line, 1, rule, Severity.ERROR, exc.message)


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
                "migrations", "a migration failed", [_failure("MIG001", exc, exc.path, exc.line)]
            )
        except MigrationSyntaxError as exc:
            return StageResult(
                "migrations",
                "a migration does not parse",
                [_failure("MIG002", exc, ctx.migrations)],
            )
        except DriftError as exc:
            return StageResult("migrations", "drift", [_failure("MIG003", exc, ctx.migrations)])
    findings = [_failure("MIG003", MapperdbError(d.message), ctx.migrations) for d in drift]
    return StageResult(
        "migrations",
        f"{len(applied)} applied as the Azure-like admin, {len(reverted)} reverted, re-applied",
        findings,
    )


STAGES: list[tuple[str, Callable[[GateContext], StageResult]]] = [
    ("migrations", migrations_stage),
]


def run_gate(
    ctx: GateContext, on_stage: Callable[[str], None] = lambda _name: None
) -> list[StageResult]:
    results = []
    for name, stage in STAGES:
        on_stage(name)
        started = time.monotonic()
        result = stage(ctx)
        result.duration_s = time.monotonic() - started
        results.append(result)
    return results


def render_text(results: list[StageResult]) -> str:
    lines = []
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        lines.append(f"{mark} {r.name:<12} {r.summary} ({r.duration_s:.1f} s)")
        lines.extend(f"     {f.file}:{f.line}:{f.column}: {f.rule} {f.message}" for f in r.findings)
    passed = all(r.ok for r in results)
    lines.append("gate: passed" if passed else "gate: FAILED")
    return "\n".join(lines)


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--changed-since", metavar="REF", help="Lint only files changed since this git ref.")
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Repository root.",
)
def check(fmt: str, changed_since: str | None, repo: Path) -> None:
    """The whole PR gate: migrations on an ephemeral server, then every other stage.

    Exit 0 when every stage passes, 1 when any stage has an error finding, 2 on usage or
    environment errors (for example PostgreSQL not installed).
    """
    console = Console(stderr=True)
    show = (
        (lambda name: console.print(f"[dim]running {name}…[/]"))
        if console.is_terminal
        else (lambda _n: None)
    )
    results = run_gate(GateContext(repo=repo.resolve(), changed_since=changed_since), show)
    if fmt == "json":
        click.echo(
            json.dumps(
                {"ok": all(r.ok for r in results), "stages": [r.as_json() for r in results]},
                indent=2,
            )
        )
    else:
        click.echo(render_text(results))
    if not all(r.ok for r in results):
        raise SystemExit(EXIT_FINDINGS)
