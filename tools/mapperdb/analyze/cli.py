"""``mapperdb analyze``: findings on a live database, each with its evidence and its fix."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path

import click

from mapperdb.analyze.model import Check, Thresholds
from mapperdb.analyze.report import FORMATS, render
from mapperdb.analyze.run import analyze as run_checks
from mapperdb.db import Connector, resolve_conninfo
from mapperdb.errors import EXIT_FINDINGS
from mapperdb.findings import Finding

DURATION = re.compile(r"^(\d+)\s*(s|min|m|h|d)$")
UNITS = {"s": "seconds", "min": "minutes", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str) -> timedelta:
    match = DURATION.match(value.strip())
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration like 30s, 15min, 12h or 7d")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


@click.command()
@click.option("--dsn", help="Connection string (else DATABASE_URL, else the PG* variables).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--since",
    default="7d",
    show_default=True,
    help="How much history the cumulative statistics must cover before an unused index is "
    "advice (below it, an information): 30s, 15min, 12h, 7d.",
)
@click.option(
    "--slow-ms",
    type=click.FloatRange(min=0),
    default=Thresholds().slow_mean_ms,
    show_default=True,
    help="A statement whose mean time is at least this is slow: listed as a warning and "
    "tried for index advice.",
)
@click.option("--schema", default="mapper", show_default=True, help="Schema of the platform.")
@click.option(
    "--write-migrations",
    type=click.Path(path_type=Path, file_okay=False, exists=True, writable=True),
    help="Write each index advice as a migration (next free version) into this directory.",
)
def analyze(
    *,
    dsn: str | None,
    fmt: str,
    since: str,
    slow_ms: float,
    schema: str,
    write_migrations: Path | None,
) -> None:
    """Analyze a live database: slow statements, verified index advice, unused and duplicate
    indexes, bloat, vacuum, wraparound, partitions, RLS policies, sessions, replica lag.

    Runs as a login with pg_monitor (Azure's admin has it) that may read the tables (a member
    of mapper_readonly) for index advice; never needs a superuser and changes nothing.
    Exit 1 when a finding is at error level, so a pipeline can run it against staging.
    """
    thresholds = Thresholds(min_history=parse_duration(since), slow_mean_ms=slow_ms)
    with Connector(resolve_conninfo(dsn), application_name="mapperdb analyze").connect() as conn:
        conn.execute("set application_name = 'mapperdb analyze'")
        show = sys.stderr.isatty()

        def progress(check: Check) -> None:
            if show:
                click.echo(f"\r\033[Kanalyze: {check.id} {check.name}", nl=False, err=True)

        report = run_checks(conn, schema=schema, thresholds=thresholds, progress=progress)
        if show:
            click.echo("\r\033[K", nl=False, err=True)
    click.echo(render(report, fmt), nl=False)
    if write_migrations is not None:
        for path in write_advice(report.findings, write_migrations):
            click.echo(f"analyze: wrote {path}", err=True)
    if not report.ok:
        sys.exit(EXIT_FINDINGS)


def write_advice(findings: list[Finding], directory: Path) -> list[Path]:
    """Each advice's migration as NNNN_<index>.up.sql/.down.sql after the newest version."""
    directory.mkdir(parents=True, exist_ok=True)
    versions = [int(p.name[:4]) for p in directory.glob("[0-9][0-9][0-9][0-9]_*.sql")]
    version = max(versions, default=0)
    written = []
    for finding in findings:
        if "migration_up" not in finding.extra:
            continue
        version += 1
        stem = f"{version:04d}_{finding.extra['index']}"
        for kind in ("up", "down"):
            path = directory / f"{stem}.{kind}.sql"
            path.write_text(finding.extra[f"migration_{kind}"], encoding="utf-8")
            written.append(path)
    return written
