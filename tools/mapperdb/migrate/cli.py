"""``mapperdb migrate up|down|status|verify|plan``."""

from __future__ import annotations

import functools
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from mapperdb.db import Connector, resolve_conninfo
from mapperdb.errors import EXIT_FINDINGS, MapperdbError
from mapperdb.migrate.files import DURATION_RE
from mapperdb.migrate.runner import DriftError, Event, Runner, Settings

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_DIR = Path("sql/migrations")


def _apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def error_payload(exc: MapperdbError) -> dict[str, Any]:
    """The JSON error object ``--format json`` prints on stdout for any expected failure."""
    error: dict[str, Any] = {
        "kind": type(exc).__name__,
        "message": exc.message,
        "exit_code": exc.exit_code,
    }
    path = getattr(exc, "path", None)
    if path is not None:
        error["file"] = str(path)
        error["line"] = getattr(exc, "line", None)
    if isinstance(exc, DriftError):
        error["drift"] = [d.as_json() for d in exc.drift]
    return {"error": error}


def json_errors(func: F) -> F:
    """With ``--format json``, a failure is also a JSON object on stdout (the one line stays on
    stderr and the exit code is unchanged), so a pipeline parsing stdout never gets nothing."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MapperdbError as exc:
            if kwargs.get("fmt") == "json":
                click.echo(json.dumps(error_payload(exc), indent=2, default=str))
            raise

    return wrapper  # type: ignore[return-value]


def common_options(func: F) -> F:
    """Where and how: every sub-command."""
    return _apply(
        json_errors(func),
        [
            click.option(
                "--dsn", help="Connection string; else DATABASE_URL, else libpq's PG* variables."
            ),
            click.option(
                "--dir",
                "directory",
                type=click.Path(path_type=Path),
                default=DEFAULT_DIR,
                show_default=True,
                help="Directory of NNNN_slug.up.sql / .down.sql files.",
            ),
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                help="Output format; json is stable and documented.",
            ),
        ],
    )


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A PostgreSQL duration (500ms, 5s, 15min, 1h), checked before anything connects."""
    if not DURATION_RE.match(value.strip()):
        raise click.BadParameter(f"{value!r} is not a duration like 500ms, 5s, 15min or 1h")
    return value.strip()


def run_options(func: F) -> F:
    """How to behave while changing the database: up and down only."""
    return _apply(
        func,
        [
            click.option(
                "--lock-wait",
                type=float,
                default=60.0,
                show_default=True,
                help="Seconds to wait for another runner's lock before exiting 1.",
            ),
            click.option(
                "--lock-timeout",
                default="5s",
                show_default=True,
                callback=_duration,
                help="lock_timeout per migration (a file's header directive wins).",
            ),
            click.option(
                "--statement-timeout",
                default="15min",
                show_default=True,
                callback=_duration,
                help="statement_timeout per migration (a file's header directive wins).",
            ),
            click.option(
                "--lock-retries",
                type=click.IntRange(0, 100),
                default=5,
                show_default=True,
                help="Retries after a lock timeout, with jittered backoff.",
            ),
        ],
    )


def to_option(help_text: str) -> Callable[[F], F]:
    return click.option("--to", "to", type=click.IntRange(0), help=help_text)


def make_runner(opts: dict[str, Any]) -> Runner:
    defaults = Settings()
    settings = Settings(
        lock_wait_s=opts.get("lock_wait", defaults.lock_wait_s),
        lock_timeout=opts.get("lock_timeout", defaults.lock_timeout),
        statement_timeout=opts.get("statement_timeout", defaults.statement_timeout),
        lock_retries=opts.get("lock_retries", defaults.lock_retries),
    )
    connector = Connector(resolve_conninfo(opts["dsn"]), application_name="mapperdb migrate")
    on_event = _progress_printer() if opts["fmt"] == "text" else (lambda _e: None)
    return Runner(connector, opts["directory"], settings, on_event)


def _progress_printer() -> Callable[[Event], None]:
    """Per-migration progress on a terminal; silent in pipelines (stderr not a TTY)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        return lambda _event: None

    def show(event: Event) -> None:
        label = f"{event.step.direction} {event.step.migration.label}"
        if event.kind == "start":
            console.print(f"[bold]→[/] {label} [dim]({event.step.script.directives.mode})[/]")
        elif event.kind == "done":
            console.print(f"  [green]✓[/] {label} [dim]{event.duration_ms} ms[/]")
        else:
            console.print(f"  [yellow]![/] {label}: {event.detail}")

    return show


def emit(fmt: str, payload: dict[str, Any], text: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        click.echo(text)


def wants_json(args: list[str]) -> bool:
    return "--format=json" in args or any(
        a == "--format" and b == "json" for a, b in itertools.pairwise(args)
    )


class JsonErrorsGroup(click.Group):
    """Usage errors of a sub-command (a bad ``--to``) are failures too: with ``--format json``
    they are also a JSON error object on stdout."""

    def invoke(self, ctx: click.Context) -> Any:
        args = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # invoke() empties them
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if wants_json(args):
                error = {"kind": "UsageError", "message": exc.format_message(), "exit_code": 2}
                click.echo(json.dumps({"error": error}, indent=2))
            raise


@click.group(cls=JsonErrorsGroup)
def migrate() -> None:
    """Apply, revert, inspect and verify versioned migrations (sql/migrations).

    One runner at a time per database (advisory lock); each migration commits with its
    history row; no-transaction migrations resume where they failed. See docs/migrations.md.
    """


@migrate.command()
@common_options
@run_options
@to_option("Apply up to and including this version (default: all).")
def up(to: int | None, **opts: Any) -> None:
    """Apply pending migrations (and resume a partly applied one)."""
    outcomes = make_runner(opts).up(to)
    lines = [
        f"applied {o.version:04d}_{o.name} ({o.mode}, {o.duration_ms} ms"
        + (f", {o.retries} retries" if o.retries else "")
        + ")"
        for o in outcomes
    ]
    emit(
        opts["fmt"],
        {"applied": [o.as_json() for o in outcomes]},
        "\n".join(lines) or "nothing to apply: the database is up to date",
    )


@migrate.command()
@common_options
@run_options
@to_option("Revert every migration above this version (0 reverts all); default: the newest one.")
def down(to: int | None, **opts: Any) -> None:
    """Revert migrations with their down files, newest first."""
    outcomes = make_runner(opts).down(to)
    lines = [f"reverted {o.version:04d}_{o.name} ({o.mode}, {o.duration_ms} ms)" for o in outcomes]
    emit(
        opts["fmt"],
        {"reverted": [o.as_json() for o in outcomes]},
        "\n".join(lines) or "nothing to revert",
    )


@migrate.command()
@common_options
@to_option("Plan towards this version: below the newest applied plans a down, else an up.")
def plan(to: int | None, **opts: Any) -> None:
    """List what up (or down --to) would run, in order, without changing the database."""
    steps = make_runner(opts).plan(to)
    lines = [
        f"{s.direction:<4} {s.migration.label}  ({s.script.directives.mode}"
        + (f", resume at statement {s.resume_at}" if s.resume_at > 1 else "")
        + ")"
        for s in steps
    ]
    emit(opts["fmt"], {"steps": [s.as_json() for s in steps]}, "\n".join(lines) or "nothing to do")


@migrate.command()
@common_options
def status(**opts: Any) -> None:
    """Every migration with its state: applied, partial (k/n statements) or pending; and drift."""
    runner = make_runner(opts)
    migrations = runner.migrations()
    applied = runner.applied()
    drift = runner.drift()
    rows: list[dict[str, Any]] = []
    for m in migrations:
        row = applied.get(m.version)
        state = "pending" if row is None else row.state
        rows.append(
            {
                "version": m.version,
                "name": m.name,
                "state": state,
                "mode": m.up.directives.mode,
                "applied_at": row.applied_at.isoformat() if row else None,
                "applied_by": row.applied_by if row else None,
                "duration_ms": row.duration_ms if row else None,
                "statements_done": row.statements_done if row else 0,
                "statements_total": len(m.up.statements),
                "last_error": row.last_error if row else None,
            }
        )
    if opts["fmt"] == "json":
        emit("json", {"migrations": rows, "drift": [d.as_json() for d in drift]}, "")
    else:
        table = Table("version", "name", "state", "mode", "applied at", "by", "ms")
        for r in rows:
            state = r["state"]
            if state == "partial":
                state = f"partial {r['statements_done']}/{r['statements_total']}"
            table.add_row(
                f"{r['version']:04d}",
                r["name"],
                state,
                r["mode"],
                (r["applied_at"] or "")[:19],
                r["applied_by"] or "",
                "" if r["duration_ms"] is None else str(r["duration_ms"]),
            )
        Console(width=120).print(table)
        for d in drift:
            click.echo(f"drift: {d.message}")
    if drift:
        sys.exit(EXIT_FINDINGS)


@migrate.command()
@common_options
def verify(**opts: Any) -> None:
    """Exit 1 if applied migrations drifted from their files (edited, deleted, unknown)."""
    drift = make_runner(opts).drift()
    emit(
        opts["fmt"],
        {"ok": not drift, "drift": [d.as_json() for d in drift]},
        "\n".join(f"drift: {d.message}" for d in drift) or "ok: no drift",
    )
    if drift:
        sys.exit(EXIT_FINDINGS)
