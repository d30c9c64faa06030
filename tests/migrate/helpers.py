"""Build migration directories for runner tests."""

from __future__ import annotations

from pathlib import Path

import psycopg

# Every test migration appends to this log, so "applied exactly once" is observable.
LOG_TABLE = "public.applied_log"


def write(directory: Path, version: int, slug: str, up: str, down: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{version:04d}_{slug}.up.sql").write_text(up)
    (directory / f"{version:04d}_{slug}.down.sql").write_text(down)


def logged_set(directory: Path, count: int, *, sleep_s: float = 0.0) -> None:
    """Migration 1 creates the log table; each of 2..count appends its version to it."""
    write(
        directory,
        1,
        "log",
        f"create table {LOG_TABLE} (version integer not null, at timestamptz default now());\n"
        f"insert into {LOG_TABLE} (version) values (1);\n",
        f"drop table {LOG_TABLE};\n",
    )
    for version in range(2, count + 1):
        write(
            directory,
            version,
            f"step{version}",
            f"select pg_sleep({sleep_s});\n"
            f"create table public.t{version} (id bigint primary key);\n"
            f"insert into {LOG_TABLE} (version) values ({version});\n",
            f"drop table public.t{version};\n",
        )


def log_counts(conninfo: str) -> dict[int, int]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            f"select version, count(*) from {LOG_TABLE} group by version order by version"
        ).fetchall()
    return {int(v): int(c) for v, c in rows}


def history(conninfo: str) -> list[tuple[int, str, int, int]]:
    with psycopg.connect(conninfo) as conn:
        if conn.execute("select to_regclass('mapperdb.schema_history')").fetchone() == (None,):
            return []
        return [
            (int(r[0]), str(r[1]), int(r[2]), int(r[3]))
            for r in conn.execute(
                "select version, state, statements_done, statements_total"
                " from mapperdb.schema_history order by version"
            ).fetchall()
        ]
