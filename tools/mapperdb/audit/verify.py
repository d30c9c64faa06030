"""Verifying every tenant's chain in the database and against the checkpoints.

Per tenant, one status (the first that applies, in this order; docs/schema.md has the table):

- ``chain_missing``: no link and no head visible (unknown tenant, or its chain was deleted).
- ``missing_head``: links but no head row; ``chain_seq`` is the last link.
- ``broken_link``: ``verify_audit_chain()`` found a gap, a broken prev_hash, an altered link or
  a removed tail; ``chain_seq`` is that link.
- ``head_behind_checkpoint``: the head is below a checkpointed head (links removed, head
  rewound); ``chain_seq`` is the checkpointed link.
- ``contradicts_checkpoint``: the link at a checkpointed chain_seq has another hash (history
  rewritten: forged, replaced or re-appended links); ``chain_seq`` is the first such link.
- ``intact``: none of the above.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mapperdb.audit.checkpoint import Checkpoint, FileProblem
from mapperdb.audit.heads import database_error

STATUSES = (
    "intact",
    "broken_link",
    "missing_head",
    "head_behind_checkpoint",
    "contradicts_checkpoint",
    "chain_missing",
)


@dataclass(frozen=True)
class Anchor:
    """A tenant's head as one checkpoint file recorded it."""

    file: str
    chain_seq: int
    hash: str


@dataclass(frozen=True)
class TenantResult:
    tenant_id: str
    status: str
    chain_seq: int | None  # the link the status is about; None when intact or chain missing
    head_seq: int | None  # the head in the database now
    anchor: Anchor | None  # the newest checkpoint of this tenant's head
    message: str

    @property
    def intact(self) -> bool:
        return self.status == "intact"

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "status": self.status,
            "chain_seq": self.chain_seq,
            "head_seq": self.head_seq,
            "checkpoint": None
            if self.anchor is None
            else {"file": self.anchor.file, "chain_seq": self.anchor.chain_seq},
            "message": self.message,
        }


@dataclass(frozen=True)
class Report:
    tenants: list[TenantResult]
    checkpoints: dict[str, Any] | None = None  # directory, files, latest, signatures_checked
    file_problems: list[FileProblem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.file_problems and all(t.intact for t in self.tenants)

    def as_json(self) -> dict[str, Any]:
        checkpoints = None
        if self.checkpoints is not None:
            checkpoints = {
                **self.checkpoints,
                "problems": [p.as_json() for p in self.file_problems],
            }
        return {
            "intact": self.intact,
            "tenants": [t.as_json() for t in self.tenants],
            "checkpoints": checkpoints,
        }


def anchors(checkpoints: Iterable[Checkpoint]) -> dict[str, list[Anchor]]:
    """tenant id -> every head the checkpoints recorded for it, oldest file first."""
    found: dict[str, list[Anchor]] = {}
    for checkpoint in checkpoints:
        for head in checkpoint.heads:
            tenant = found.setdefault(head.tenant_id, [])
            if head.chain_seq is not None and head.hash is not None:
                tenant.append(Anchor(checkpoint.path.name, head.chain_seq, head.hash))
    return found


Status = tuple[str, int | None, str]  # status, chain_seq, message


def _in_database(
    conn: psycopg.Connection[Any],
    tenant_id: str,
    head_seq: int | None,
    last_seq: int | None,
    newest: Anchor | None,
) -> Status | None:
    """What the database alone can tell: a missing chain or head, a broken link."""
    if head_seq is None and last_seq is None:
        where = f" (checkpoint {newest.file} recorded link {newest.chain_seq})" if newest else ""
        return (
            "chain_missing",
            None,
            f"no audit chain is visible{where}: unknown tenant, or its links and head were deleted",
        )
    if head_seq is None:
        return (
            "missing_head",
            last_seq,
            f"the chain head is missing; the trail has links up to {last_seq} (head deleted)",
        )
    problem = conn.execute(
        "select chain_seq, problem from mapper.verify_audit_chain(%s)", (tenant_id,)
    ).fetchone()
    if problem is None:
        return None
    if problem[0] is None:
        return ("chain_missing", None, str(problem[1]))
    return ("broken_link", problem[0], f"link {problem[0]}: {problem[1]}")


def _against_checkpoints(
    conn: psycopg.Connection[Any], tenant_id: str, head_seq: int, recorded: list[Anchor]
) -> Status | None:
    """What only the checkpoints can tell: a rewind, or history rewritten with valid hashes."""
    if not recorded:
        return None
    newest = max(recorded, key=lambda a: a.chain_seq)
    if head_seq < newest.chain_seq:
        return (
            "head_behind_checkpoint",
            newest.chain_seq,
            f"head at link {head_seq}, but {newest.file} recorded link {newest.chain_seq}: "
            "links were removed and the chain rewound",
        )
    rows = conn.execute(
        "select chain_seq, encode(row_hash, 'hex') from mapper.audit_records "
        "where tenant_id = %s and chain_seq = any(%s)",
        (tenant_id, sorted({a.chain_seq for a in recorded})),
    ).fetchall()
    hashes = dict(rows)
    differing = [a for a in recorded if hashes.get(a.chain_seq) != a.hash]
    if not differing:
        return None
    first = min(differing, key=lambda a: a.chain_seq)
    return (
        "contradicts_checkpoint",
        first.chain_seq,
        f"link {first.chain_seq} is not the link {first.file} recorded: the history was "
        "rewritten (forged, replaced or re-appended links)",
    )


def check_tenant(
    conn: psycopg.Connection[Any], tenant_id: str, recorded: list[Anchor]
) -> TenantResult:
    """One tenant, in the caller's transaction, with the tenant in context (RLS)."""
    conn.execute("select set_config('app.tenant_id', %s, true)", (tenant_id,))
    head = conn.execute(
        "select last_seq from mapper.audit_chain_heads where tenant_id = %s", (tenant_id,)
    ).fetchone()
    last = conn.execute(
        "select max(chain_seq) from mapper.audit_records where tenant_id = %s", (tenant_id,)
    ).fetchone()
    head_seq = None if head is None else int(head[0])
    last_seq = None if last is None or last[0] is None else int(last[0])
    newest = max(recorded, key=lambda a: a.chain_seq, default=None)
    found = _in_database(conn, tenant_id, head_seq, last_seq, newest)
    if found is None and head_seq is not None:
        found = _against_checkpoints(conn, tenant_id, head_seq, recorded)
    if found is None:
        anchored = f"; matches {newest.file} (link {newest.chain_seq})" if newest else ""
        found = ("intact", None, f"links 1 to {head_seq} verified{anchored}")
    status, chain_seq, message = found
    return TenantResult(tenant_id, status, chain_seq, head_seq, newest, message)


def verify(
    conn: psycopg.Connection[Any],
    tenants: list[str],
    recorded: dict[str, list[Anchor]],
    where: str,
) -> list[TenantResult]:
    """Every tenant of ``tenants``, in one read-only snapshot."""
    results = []
    try:
        with conn.transaction():
            conn.execute("set transaction isolation level repeatable read, read only")
            for tenant_id in tenants:
                results.append(check_tenant(conn, tenant_id, recorded.get(tenant_id, [])))
    except psycopg.Error as exc:
        raise database_error(exc, where) from None
    return results
