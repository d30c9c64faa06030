"""``mapperdb audit checkpoint|verify``."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import click
import psycopg

from mapperdb.audit import checkpoint as files
from mapperdb.audit.heads import read_heads
from mapperdb.audit.verify import Report, anchors, verify
from mapperdb.db import Connector, describe, resolve_conninfo
from mapperdb.errors import EXIT_FINDINGS

DSN_HELP = (
    "Connection string of a login member of mapper_auditor; else DATABASE_URL, else libpq's "
    "PG* variables."
)


@click.group()
def audit() -> None:
    """Anchor the audit chain outside the database, and verify it against the anchors.

    The database alone cannot tell a chain rewound, deleted or rewritten by someone who can
    write its tables; the checkpoint files, kept where that person cannot write (production:
    the immutable audit-archive container), can. See docs/schema.md, "Audit chain".
    """


def _connect(dsn: str | None) -> tuple[Connector, psycopg.Connection[Any]]:
    connector = Connector(resolve_conninfo(dsn), application_name="mapperdb audit")
    return connector, connector.connect(autocommit=True)


@audit.command()
@click.option("--dsn", help=DSN_HELP)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory of the checkpoint files (must exist; an empty one starts a new chain).",
)
def checkpoint(dsn: str | None, out: Path) -> None:
    """Write every tenant's chain head (chain_seq, hash, time) as the next checkpoint file.

    Each file carries the sha256 of the previous one, and an HMAC-SHA256 signature when
    MAPPERDB_AUDIT_CHECKPOINT_KEY is set. Files are written atomically and never overwritten.
    Exit 0 written; 2 usage, connection, permission or directory error.
    """
    files.require_directory(out)  # before anyone connects
    connector, conn = _connect(dsn)
    with conn:
        heads, database, taken_at = read_heads(conn, describe(connector.conninfo))
    written = files.write(out, heads, database, taken_at, files.signing_key())
    previous = written.previous
    chained = (
        f", chained to {previous['file']} (sha256 {previous['sha256'][:12]}...)"
        if previous
        else ", the first of its chain"
    )
    signed = ", signed" if "signature" in written.document else ""
    click.echo(f"wrote {written.path}: {len(heads)} tenants{chained}{signed}")


@audit.command("verify")
@click.option("--dsn", help=DSN_HELP)
@click.option(
    "--checkpoints",
    type=click.Path(path_type=Path),
    help="Directory of checkpoint files to verify the chains against (and their own chain).",
)
@click.option("--tenant", type=click.UUID, help="Verify this tenant only (default: every tenant).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is stable and documented (docs/schema.md).",
)
def verify_command(
    dsn: str | None, checkpoints: Path | None, tenant: uuid.UUID | None, fmt: str
) -> None:
    """Verify every tenant's audit chain, and against the checkpoints if given.

    Per tenant: intact, broken_link, missing_head, head_behind_checkpoint,
    contradicts_checkpoint or chain_missing; and any problem of the checkpoint files (missing,
    changed, unreadable, unsigned, bad_signature, other_database).
    Exit 0 all intact; 1 anything else; 2 usage, connection or permission error.
    """
    loaded = files.load(checkpoints) if checkpoints is not None else None
    connector, conn = _connect(dsn)
    where = describe(connector.conninfo)
    with conn:
        heads, database, _ = read_heads(conn, where)
        recorded = anchors(loaded.checkpoints) if loaded is not None else {}
        if tenant is not None:
            tenants = [str(tenant)]
        else:
            tenants = sorted({h.tenant_id for h in heads} | set(recorded))
        results = verify(conn, tenants, recorded, where)
    report = Report(results)
    if loaded is not None:
        key = files.signing_key()
        report = Report(
            results,
            {
                "directory": str(loaded.path),
                "files": len(loaded.sequences),
                "latest": files.file_name(loaded.sequences[-1]) if loaded.sequences else None,
                "signatures_checked": key is not None,
            },
            files.check_chain(loaded, database, key),
        )
    click.echo(render_json(report) if fmt == "json" else render_text(report), nl=False)
    if not report.intact:
        sys.exit(EXIT_FINDINGS)


def render_json(report: Report) -> str:
    return json.dumps(report.as_json(), indent=2) + "\n"


def render_text(report: Report) -> str:
    width = max((len(t.status) for t in report.tenants), default=0)
    lines = [f"{t.tenant_id}  {t.status:<{width}}  {t.message}" for t in report.tenants]
    lines += [f"{p.file}: {p.status}: {p.message}" for p in report.file_problems]
    broken = sum(not t.intact for t in report.tenants)
    summary = f"{len(report.tenants)} tenants, {broken} not intact"
    if report.checkpoints is not None:
        summary += (
            f"; {report.checkpoints['files']} checkpoint files in "
            f"{report.checkpoints['directory']}, {len(report.file_problems)} problems"
        )
        if not report.checkpoints["signatures_checked"]:
            summary += f" (signatures not checked: {files.KEY_ENV} is not set)"
    lines.append(("intact: " if report.intact else "NOT INTACT: ") + summary)
    return "\n".join(lines) + "\n"
