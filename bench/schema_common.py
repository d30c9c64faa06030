"""Shared set-up of the schema benchmarks: an ephemeral Azure-like PostgreSQL with every
migration applied, login users in the group roles, and fast bulk data (loaded by the superuser
with triggers off: loading is set-up, not what is measured)."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from mapperdb.db import Connector  # noqa: E402
from mapperdb.migrate.runner import Runner  # noqa: E402
from mapperdb.pg.ephemeral import EphemeralPostgres  # noqa: E402

MIGRATIONS = ROOT / "sql" / "migrations"
DB = "bench"


@contextmanager
def bench_cluster() -> Iterator[EphemeralPostgres]:
    with EphemeralPostgres() as pg:
        pg.create_database(DB)
        Runner(Connector(pg.admin_conninfo(DB)), MIGRATIONS).up()
        with psycopg.connect(pg.superuser_conninfo(DB), autocommit=True) as conn:
            conn.execute("create role bench_app login in role mapper_app")
        yield pg


def copy_database_settings(pg: EphemeralPostgres, source: str, target: str) -> None:
    """A clone does not inherit the database's settings (0012's session limits): copy them,
    so both sides of a comparison run under the same ones."""
    with psycopg.connect(pg.superuser_conninfo(source), autocommit=True) as conn:
        settings = conn.execute(
            "select unnest(setconfig) from pg_db_role_setting where setrole = 0 and setdatabase ="
            " (select oid from pg_database where datname = current_database())"
        ).fetchall()
        for (setting,) in settings:
            name, _, value = str(setting).partition("=")
            conn.execute(
                sql.SQL("alter database {} set {} = {}").format(
                    sql.Identifier(target), sql.Identifier(name), sql.Literal(value)
                )
            )


def tenant_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def load(
    pg: EphemeralPostgres, dbname: str, tenants: int, rows_per_tenant: int, month_offset: int = 0
) -> float:
    """Tenants and storage records in bulk; returns seconds. Rows fall in this month (or
    ``month_offset`` months back), newest first per tenant."""
    started = time.perf_counter()
    with psycopg.connect(pg.superuser_conninfo(dbname), autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")  # no triggers: set-up only
        conn.execute("set statement_timeout = 0")  # a bulk load outlasts 0012's session limit
        conn.execute(
            "insert into mapper.tenant_configs (tenant_id, name, key_vault_key_uri) "
            "select ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, 'tenant ' || t,"
            " 'https://kv-bench.vault.azure.net/keys/k' from generate_series(1, %s) t "
            "on conflict do nothing",
            (tenants,),
        )
        conn.execute(
            "insert into mapper.storage_records (tenant_id, created_at, source_data_hash, "
            "detector_type, taxonomy_labels, confidence_score, model_version, correlation_id, "
            "azure_region, payload, payload_key_version, metadata) "
            "select ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, "
            "date_trunc('month', now()) - make_interval(months => %s) "
            "  + (g::float8 / %s) * least(now() - date_trunc('month', now()), interval '20 days'),"
            " lpad(to_hex(g * 1000 + t), 64, '0'),"
            " (array['pii', 'toxicity', 'jailbreak'])[1 + g %% 3], '{PII.Contact.Email}',"
            " (g %% 100) / 100.0, 'llama-mapper-1.5.0', 'req-' || t || '-' || g,"
            " 'westeurope', '\\x00112233445566778899aabbccddeeff', repeat('ab', 16), '{}' "
            "from generate_series(1, %s) t, generate_series(1, %s) g",
            (month_offset, rows_per_tenant, tenants, rows_per_tenant),
        )
    with psycopg.connect(pg.admin_conninfo(dbname), autocommit=True) as conn:
        conn.execute("select count(*) from mapper.maintain_partitions()")
        conn.execute("vacuum analyze mapper.storage_records")
    return time.perf_counter() - started


def compare(
    runs: int, first: Callable[[int], Any], second: Callable[[int], Any], rounds: int = 7
) -> tuple[float, float]:
    """Median seconds per call of each, over ``rounds`` interleaved rounds of ``runs`` calls
    (interleaving spreads the noise of a shared machine over both sides)."""
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for side in order:
            fn = (first, second)[side]
            started = time.perf_counter()
            for i in range(runs):
                fn(i)
            times[side].append((time.perf_counter() - started) / runs)
    return statistics.median(times[0]), statistics.median(times[1])
