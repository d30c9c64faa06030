"""Seed speed: ``mapperdb seed`` of a million storage records (100 tenants x 10,000) into an
ephemeral Azure-like PostgreSQL with every migration applied, as a login user that is a member
of mapper_app (RLS, CHECKs and the audit triggers apply to every row), against two baselines
in the same script and server:

- ``no audit``: the same seed into a clone of the same schema with the audit triggers disabled;
- ``COPY``: the same rows, exported from the seeded database, loaded by the superuser with
  COPY into an empty clone with the audit triggers disabled (RLS does not apply to the
  superuser; CHECKs, foreign keys and indexes do). Two connections, as the seed uses two
  workers on two cores; only the COPY FROM is timed.

    .venv/bin/python bench/seed_cost.py [--tenants 100] [--rows 10000] [--workers N]

Target (issue 3): a million records in well under a minute.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from mapperdb.pg.ephemeral import EphemeralPostgres
from mapperdb.seed import SeedResult, seed_database
from schema_common import DB, bench_cluster

TABLES = ("tenant_configs", "storage_records", "detector_executions", "model_metrics")
NO_AUDIT = "bench_noaudit"
COPY = "bench_copy"


def disable_audit(pg: EphemeralPostgres, dbname: str) -> None:
    with psycopg.connect(pg.superuser_conninfo(dbname), autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"alter table mapper.{table} disable trigger user")


def copy_load(pg: EphemeralPostgres, source: str, target: str) -> float:
    """Export every seeded row of ``source`` into server-side files, then COPY them into
    ``target``; returns the seconds of the COPY FROM (tenants first, then two connections)."""
    assert pg.root is not None
    files = {table: pg.root / "data" / f"seed_{table}.copy" for table in TABLES}
    columns = {}
    with psycopg.connect(pg.superuser_conninfo(source), autocommit=True) as conn:
        for table, path in files.items():
            names = [
                row[0]
                for row in conn.execute(
                    "select column_name from information_schema.columns where table_schema = "
                    "'mapper' and table_name = %s and is_generated = 'NEVER' "
                    "order by ordinal_position",
                    (table,),
                )
            ]
            columns[table] = ", ".join(names)
            conn.execute(
                f"copy (select {columns[table]} from mapper.{table}) to '{path}' (format binary)"
            )

    def load(tables: tuple[str, ...]) -> None:
        with psycopg.connect(pg.superuser_conninfo(target), autocommit=True) as conn:
            for table in tables:
                conn.execute(
                    f"copy mapper.{table} ({columns[table]}) from '{files[table]}' (format binary)"
                )

    started = time.perf_counter()
    load(("tenant_configs",))
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(load, [("storage_records",), ("detector_executions", "model_metrics")]))
    seconds = time.perf_counter() - started
    for path in files.values():
        path.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000, help="storage records per tenant")
    parser.add_argument("--workers", type=int, help="tenants in parallel (default: CPUs)")
    args = parser.parse_args()
    with bench_cluster() as pg:
        for clone in (NO_AUDIT, COPY):
            pg.create_database(clone, template=DB)
            disable_audit(pg, clone)

        def seed(dbname: str) -> SeedResult:
            return seed_database(
                pg.conninfo(dbname, "bench_app"),
                args.tenants,
                args.rows,
                workers=args.workers,
                random_seed=7,
            )

        plain = seed(NO_AUDIT)
        audited = seed(DB)
        copied = copy_load(pg, DB, COPY)
        with psycopg.connect(pg.superuser_conninfo(DB)) as conn:
            row = conn.execute(
                "select count(*), coalesce(sum(entries), 0) from mapper.audit_records"
            ).fetchone()
        links, entries = row if row else (0, 0)
    rows = audited.storage_records + audited.detector_executions + audited.model_metrics
    print(
        f"seeded {audited.storage_records:,} storage records, {audited.detector_executions:,} "
        f"executions, {audited.model_metrics:,} metrics ({audited.tenants} tenants; "
        f"{links:,} audit links holding {entries:,} entries)"
    )
    for name, seconds in (
        ("mapperdb seed", audited.seconds),
        ("baseline: the same seed, audit triggers disabled", plain.seconds),
        ("baseline: COPY of the same rows by the superuser", copied),
    ):
        print(
            f"{name:50s} {seconds:6.1f} s  {rows / seconds:9,.0f} rows/s  "
            f"{seconds / audited.seconds:5.2f} x seed"
        )


if __name__ == "__main__":
    main()
