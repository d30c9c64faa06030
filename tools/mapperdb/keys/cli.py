"""``mapperdb keys rotate --tenant ID [--reencrypt]``."""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from pathlib import Path

import click
import psycopg
from psycopg_pool import PoolTimeout
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mapperdb.client.database import Database
from mapperdb.client.envelope import Envelope
from mapperdb.client.kek import KekProvider, KeyVaultKeks, LocalKeks
from mapperdb.db import (
    default_credential,
    describe,
    first_line,
    resolve_conninfo,
    wants_entra_token,
)
from mapperdb.errors import EnvironmentProblem
from mapperdb.keys import rotate as rotation

LOCAL_KEYS_ENV = "MAPPERDB_LOCAL_KEYS"


@click.group()
def keys() -> None:
    """Tenant data keys of envelope encryption (docs/client.md)."""


def _keks(local_keys: str | None) -> KekProvider:
    if local_keys:
        return LocalKeks(Path(local_keys))
    return KeyVaultKeks(default_credential())


@keys.command()
@click.option("--tenant", "tenant", required=True, help="Tenant id (uuid).")
@click.option(
    "--reencrypt",
    is_flag=True,
    help="Also start a new data key and re-encrypt every payload under it (batched).",
)
@click.option("--dsn", help="Connection string (else DATABASE_URL, else the PG* variables).")
@click.option(
    "--local-keys",
    envvar=LOCAL_KEYS_ENV,
    type=click.Path(file_okay=False),
    help=f"Local KEK directory (tests, sandbox; or {LOCAL_KEYS_ENV}); default: Azure Key Vault.",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rotate(
    *,
    tenant: str,
    reencrypt: bool,
    dsn: str | None,
    local_keys: str | None,
    batch_size: int,
    fmt: str,
) -> None:
    """Re-wrap a tenant's data keys under its current Key Vault KEK version (after a KEK
    rotation; payloads untouched), and with --reencrypt move every payload to a new data key.

    Connect as a login that is a member of mapper_app. JSON output: tenant_id, kek_key_id,
    rewrapped, already_current, new_key_version (null without --reencrypt), reencrypted.
    """
    try:
        tenant_id = uuid.UUID(tenant)
    except ValueError:
        raise click.BadParameter(f"{tenant!r} is not a uuid", param_hint="--tenant") from None
    conninfo = resolve_conninfo(dsn)
    credential = default_credential() if wants_entra_token(conninfo) else None
    envelope = Envelope(_keks(local_keys))
    # The pool's own retry log lines are noise in a command: its failure is said once, below.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    try:
        with Database(conninfo, pool_min=0, pool_max=1, credential=credential) as db:
            kek, rewrapped, current = rotation.rewrap(db, envelope, tenant_id)
            version, count = None, 0
            if reencrypt:
                console = Console(stderr=True)
                with Progress(
                    TextColumn("re-encrypting"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    disable=not console.is_terminal and not os.environ.get("MAPPERDB_PROGRESS"),
                ) as progress:
                    task = progress.add_task("records", total=None)
                    version, count = rotation.reencrypt(
                        db,
                        envelope,
                        tenant_id,
                        batch_size=batch_size,
                        on_total=lambda n: progress.update(task, total=n),
                        on_batch=lambda n: progress.advance(task, n),
                    )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise EnvironmentProblem(
            f"{describe(conninfo)} may not rotate keys ({first_line(exc)}); "
            "connect as a login that is a member of mapper_app"
        ) from None
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise EnvironmentProblem(
            f"cannot connect to {describe(conninfo)}: {first_line(exc)}; "
            "check --dsn, DATABASE_URL or the PG* variables"
        ) from None
    result = rotation.RotationResult(str(tenant_id), kek, rewrapped, current, version, count)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), sort_keys=True))
        return
    click.echo(
        f"keys rotate: tenant {tenant_id}: {rewrapped} data key(s) re-wrapped under {kek}, "
        f"{current} already current"
    )
    if version is not None:
        click.echo(f"keys rotate: {count} record(s) re-encrypted under data key {version}")
    sys.stdout.flush()
