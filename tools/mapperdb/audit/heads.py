"""Reading the database side: every tenant's chain head, as a mapper_auditor member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors

from mapperdb.db import first_line
from mapperdb.errors import EnvironmentProblem

HEADS_QUERY = (
    "select tenant_id::text, chain_seq, encode(row_hash, 'hex'), updated_at "
    "from mapper.audit_chain_heads_all()"
)


@dataclass(frozen=True)
class Head:
    """A tenant's chain head: its last link's chain_seq, row_hash (hex) and time; all None
    when the tenant has no head (a configuration or links, but the head row is gone)."""

    tenant_id: str
    chain_seq: int | None
    hash: str | None
    time: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "chain_seq": self.chain_seq,
            "hash": self.hash,
            "time": self.time,
        }


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def database_error(exc: psycopg.Error, where: str) -> EnvironmentProblem:
    """A one-line message for what the auditor's session could not do."""
    if isinstance(exc, errors.InsufficientPrivilege):
        return EnvironmentProblem(
            f"{where}: {first_line(exc)}; connect as a login member of mapper_auditor"
        )
    if isinstance(exc, errors.UndefinedFunction | errors.UndefinedTable | errors.InvalidSchemaName):
        return EnvironmentProblem(
            f"{where}: {first_line(exc)}; apply the migrations first (mapperdb migrate up)"
        )
    return EnvironmentProblem(f"{where}: {first_line(exc)}")


def read_heads(conn: psycopg.Connection[Any], where: str) -> tuple[list[Head], str, str]:
    """Every tenant's head, the database's name and its clock, in one snapshot."""
    try:
        with conn.transaction():
            conn.execute("set transaction isolation level repeatable read, read only")
            rows = conn.execute(HEADS_QUERY).fetchall()
            meta = conn.execute("select current_database(), now()").fetchone()
    except psycopg.Error as exc:
        raise database_error(exc, where) from None
    assert meta is not None
    heads = [Head(str(t), seq, digest, iso(at)) for t, seq, digest, at in rows]
    return heads, str(meta[0]), str(iso(meta[1]))
