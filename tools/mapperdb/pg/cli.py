"""``mapperdb sandbox``: an ephemeral Azure-like PostgreSQL with every migration applied."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click

from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from mapperdb.pg.binaries import SUPPORTED_MAJORS
from mapperdb.pg.ephemeral import EphemeralPostgres
from mapperdb.platform import APP_DATABASE
from mapperdb.seed import seed_database


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds through the context manager, which stops the server and removes it.
    sys.exit(128 + signum)


@click.command()
@click.option(
    "--port", type=click.IntRange(1, 65535), help="TCP port on 127.0.0.1 (default: a free one)."
)
@click.option("--demo", is_flag=True, help="Also seed realistic demo data (mapperdb seed).")
@click.option(
    "--pg",
    "major",
    type=click.Choice([str(m) for m in SUPPORTED_MAJORS]),
    help="PostgreSQL major: 15 is Debian's, 17 (Azure's) and 18 are npm builds installed on "
    "first use (pg_cron and pgaudit emulated). Default: the newest Debian server.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=Path("sql/migrations"),
    show_default=True,
    help="Migrations to apply.",
)
def sandbox(port: int | None, demo: bool, major: str | None, directory: Path) -> None:
    """Start an ephemeral Azure-like PostgreSQL with all migrations applied.

    Prints one line, DSN=postgresql://..., then serves until Ctrl-C or SIGTERM, and removes the
    cluster (process and temp directory) on the way out. The DSN logs in as the Azure-like
    server admin (a non-superuser member of azure_pg_admin), not as a superuser.
    """
    # Explicit handlers: a sandbox started in the background by a script inherits SIGINT
    # ignored, and SIGTERM/SIGHUP would otherwise end Python without unwinding.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    try:
        with EphemeralPostgres(port=port, major=int(major) if major else None) as pg:
            assert pg.install is not None
            if (note := pg.install.limitations()) is not None:
                click.echo(f"sandbox: {note}", err=True)
            Runner(Connector(pg.admin_conninfo(APP_DATABASE)), directory).up()
            if demo:
                seed_database(pg.admin_conninfo(APP_DATABASE), grant_app_role=True)
            click.echo(f"DSN={pg.admin_url(APP_DATABASE)}")
            sys.stdout.flush()
            while True:
                signal.pause()
    except SystemExit as stop:
        click.echo("sandbox: stopped, cluster removed", err=True)
        raise SystemExit(0) from stop
