"""The history table: what is applied, with which checksum, by whom, and how far a
no-transaction migration got before it failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

SCHEMA = "mapperdb"
TABLE = f"{SCHEMA}.schema_history"

# Created by the runner under its advisory lock, so two first runs cannot race on it.
DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {TABLE} (
    version integer not null,
    name text not null,
    checksum text not null,
    execution_mode text not null,
    state text not null,
    statements_done integer not null default 0,
    statements_total integer not null,
    prefix_checksum text,
    last_error text,
    applied_by text not null default current_user,
    applied_at timestamptz not null default now(),
    duration_ms bigint,
    constraint schema_history_pk primary key (version),
    constraint schema_history_mode_ck check (execution_mode in ('transaction', 'no-transaction')),
    constraint schema_history_state_ck check (state in ('applied', 'partial'))
);
comment on table {TABLE} is
    'mapperdb migration history. state=partial: a no-transaction migration stopped after '
    'statements_done statements; the next "mapperdb migrate up" resumes it.';
"""


@dataclass(frozen=True)
class HistoryRow:
    version: int
    name: str
    checksum: str
    execution_mode: str
    state: str
    statements_done: int
    statements_total: int
    prefix_checksum: str | None
    last_error: str | None
    applied_by: str
    applied_at: datetime
    duration_ms: int | None

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def ensure(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute(DDL)


def exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (TABLE,)).fetchone()
    return bool(row and row[0])


def read(conn: psycopg.Connection[Any]) -> dict[int, HistoryRow]:
    if not exists(conn):
        return {}
    with conn.cursor(row_factory=class_row(HistoryRow)) as cur:
        cur.execute(
            f"select version, name, checksum, execution_mode, state, statements_done,"
            f" statements_total, prefix_checksum, last_error, applied_by, applied_at, duration_ms"
            f" from {TABLE} order by version"
        )
        return {row.version: row for row in cur.fetchall()}


def record_applied(
    conn: psycopg.Connection[Any],
    *,
    version: int,
    name: str,
    checksum: str,
    mode: str,
    statements: int,
    duration_ms: int,
) -> None:
    conn.execute(
        f"insert into {TABLE} (version, name, checksum, execution_mode, state, statements_done,"
        f" statements_total, duration_ms) values (%s, %s, %s, %s, 'applied', %s, %s, %s)"
        f" on conflict (version) do update set checksum = excluded.checksum, state = 'applied',"
        f" statements_done = excluded.statements_done,"
        f" statements_total = excluded.statements_total, prefix_checksum = null,"
        f" last_error = null, applied_by = current_user, applied_at = now(),"
        f" duration_ms = excluded.duration_ms",
        (version, name, checksum, mode, statements, statements, duration_ms),
    )


def record_progress(
    conn: psycopg.Connection[Any],
    *,
    version: int,
    name: str,
    checksum: str,
    done: int,
    total: int,
    prefix_checksum: str,
    error: str | None,
) -> None:
    conn.execute(
        f"insert into {TABLE} (version, name, checksum, execution_mode, state, statements_done,"
        f" statements_total, prefix_checksum, last_error)"
        f" values (%s, %s, %s, 'no-transaction', 'partial', %s, %s, %s, %s)"
        f" on conflict (version) do update set checksum = excluded.checksum,"
        f" statements_done = excluded.statements_done,"
        f" statements_total = excluded.statements_total,"
        f" prefix_checksum = excluded.prefix_checksum, last_error = excluded.last_error,"
        f" applied_by = current_user, applied_at = now()",
        (version, name, checksum, done, total, prefix_checksum, error),
    )


def delete(conn: psycopg.Connection[Any], version: int) -> None:
    conn.execute(f"delete from {TABLE} where version = %s", (version,))
