"""Audit cost: insert throughput of storage_records with the audit trigger versus without
(the same schema with the audit triggers disabled, the other triggers kept), as a mapper_app
member under RLS.

    .venv/bin/python bench/audit_cost.py [--tenants 100] [--rows 2000]

Two shapes: single-row inserts (one transaction each) and batches of 1000 rows per statement.
Target (issue 3): throughput ratio >= 0.6.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

import psycopg

from schema_common import DB, bench_cluster, compare, copy_database_settings, load, tenant_id

COLUMNS = (
    "tenant_id, source_data_hash, detector_type, taxonomy_labels, confidence_score, "
    "model_version, correlation_id, azure_region, payload, payload_key_version"
)
ONE = (
    f"insert into mapper.storage_records ({COLUMNS}) values (%s, %s, 'pii', "
    "'{PII.Contact.Email}', 0.5, 'v1', %s, 'westeurope', '\\x00112233445566778899', %s)"
)
BATCH = (
    f"insert into mapper.storage_records ({COLUMNS}) "
    "select %s, lpad(to_hex(%s::bigint * 1000 + g), 64, '0'), 'pii', '{PII.Contact.Email}', "
    "0.5, 'v1', 'batch-' || g, 'westeurope', '\\x00112233445566778899', repeat('0', 32) "
    "from generate_series(1, 1000) g"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=2000, help="existing records per tenant")
    parser.add_argument("--inserts", type=int, default=200, help="single-row inserts per round")
    parser.add_argument("--batches", type=int, default=5, help="1000-row batches per round")
    args = parser.parse_args()
    rng = random.Random(11)
    with bench_cluster() as pg:
        load(pg, DB, args.tenants, args.rows)
        pg.create_database("bench_noaudit", template=DB)
        copy_database_settings(pg, DB, "bench_noaudit")
        with psycopg.connect(pg.superuser_conninfo("bench_noaudit"), autocommit=True) as conn:
            # Only the audit triggers: the time-window and truncate guards stay on both sides.
            for table in ("storage_records", "tenant_configs"):
                for event in ("insert", "update", "delete"):
                    conn.execute(
                        f"alter table mapper.{table} disable trigger {table}_audit_{event}"
                    )
        tenants = [tenant_id(rng.randint(1, args.tenants)) for _ in range(args.inserts)]
        counter = iter(range(10**9))

        def single(conn: psycopg.Connection[object]) -> Callable[[int], None]:
            def run(i: int) -> None:
                n = next(counter)
                with conn.transaction():
                    conn.execute("select set_config('app.tenant_id', %s, true)", (tenants[i],))
                    conn.execute(ONE, (tenants[i], f"{n:064x}", f"one-{n}", "0" * 32))

            return run

        def batch(conn: psycopg.Connection[object]) -> Callable[[int], None]:
            def run(i: int) -> None:
                n = next(counter)
                with conn.transaction():
                    conn.execute("select set_config('app.tenant_id', %s, true)", (tenants[i],))
                    conn.execute(BATCH, (tenants[i], n))

            return run

        with (
            psycopg.connect(pg.conninfo(DB, "bench_app")) as audited,
            psycopg.connect(pg.conninfo("bench_noaudit", "bench_app")) as plain,
        ):
            with_audit, without = compare(args.inserts, single(audited), single(plain))  # type: ignore[arg-type]
            print(
                f"single-row inserts: {1 / with_audit:.0f}/s audited, {1 / without:.0f}/s not; "
                f"throughput ratio {without / with_audit:.3f}"
            )
            with_audit, without = compare(args.batches, batch(audited), batch(plain))  # type: ignore[arg-type]
            print(
                f"1000-row batches: {1000 / with_audit:.0f} rows/s audited, "
                f"{1000 / without:.0f} rows/s not; throughput ratio {without / with_audit:.3f}"
            )


if __name__ == "__main__":
    main()
