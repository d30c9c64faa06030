"""Seed speed: ``mapperdb seed`` of a million storage records (100 tenants x 10,000) into an
ephemeral Azure-like PostgreSQL with every migration applied, as a login user that is a member
of mapper_app (RLS, CHECKs and the audit triggers apply to every row).

    .venv/bin/python bench/seed_cost.py [--tenants 100] [--rows 10000] [--workers N]

Target (issue 3): a million records in well under a minute.
"""

from __future__ import annotations

import argparse

import psycopg

from mapperdb.seed import seed_database
from schema_common import DB, bench_cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000, help="storage records per tenant")
    parser.add_argument("--workers", type=int, help="tenants in parallel (default: CPUs)")
    args = parser.parse_args()
    with bench_cluster() as pg:
        result = seed_database(
            pg.conninfo(DB, "bench_app"), args.tenants, args.rows, workers=args.workers
        )
        with psycopg.connect(pg.superuser_conninfo(DB)) as conn:
            row = conn.execute("select count(*) from mapper.audit_records").fetchone()
        links = row[0] if row else 0
    print(
        f"seeded {result.storage_records:,} storage records, {result.detector_executions:,} "
        f"executions, {result.model_metrics:,} metrics and {links:,} audit links "
        f"({result.tenants} tenants) in {result.seconds:.1f} s: "
        f"{result.storage_records / result.seconds:,.0f} records/s"
    )


if __name__ == "__main__":
    main()
