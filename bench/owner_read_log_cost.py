"""What the owner's read line (0032/0033) costs the application: its single-row insert, audited,
whose trigger reads the tenant's chain head as mapper_owner (the one owner policy on the
application's path), with the migrations applied versus the same cluster's second database
migrated down to the migration before 0032 (no logging term), interleaved in the same run. The
application's reads do not touch an owner policy at all.

    .venv/bin/python bench/owner_read_log_cost.py [--tenants 100] [--rows 1000]

Target (issue sec9d): ratio <= 1.15, as for RLS itself (bench/rls_cost.py).
"""

from __future__ import annotations

import argparse
import random

import psycopg

from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from schema_common import DB, MIGRATIONS, bench_cluster, compare, load, tenant_id

BEFORE = "bench_before"
INSERT = (
    "insert into mapper.storage_records (tenant_id, source_data_hash, detector_type, "
    "taxonomy_labels, confidence_score, model_version, correlation_id, azure_region, payload, "
    "payload_key_version) values (%s, %s, 'pii', '{PII.Contact.Email}', 0.5, 'v1', %s, "
    "'westeurope', '\\x0011', %s)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000, help="storage records per tenant")
    parser.add_argument("--queries", type=int, default=300, help="inserts per round")
    args = parser.parse_args()
    rng = random.Random(7)
    with bench_cluster() as pg:
        pg.create_database(BEFORE)
        runner = Runner(Connector(pg.admin_conninfo(BEFORE)), MIGRATIONS)
        runner.up()
        # The newest migration before 0032 (others' numbers may fill the gap below it).
        runner.down(
            to=max(v for v in map(int, (f.name[:4] for f in MIGRATIONS.glob("*.up.sql"))) if v < 32)
        )
        for name in (DB, BEFORE):
            load(pg, name, args.tenants, args.rows)
        tenants = [tenant_id(rng.randint(1, args.tenants)) for _ in range(args.queries)]
        counter = iter(range(10**9))

        def inserter(conn: psycopg.Connection[object]) -> object:
            def run(i: int) -> None:
                n = next(counter)
                with conn.transaction():
                    conn.execute("select set_config('app.tenant_id', %s, true)", (tenants[i],))
                    conn.execute(INSERT, (tenants[i], f"{n:064x}", f"b-{n}", "0" * 32))

            return run

        with (
            psycopg.connect(pg.conninfo(DB, "bench_app")) as after,
            psycopg.connect(pg.conninfo(BEFORE, "bench_app")) as before,
        ):
            new, old = compare(args.queries, inserter(after), inserter(before))  # type: ignore[arg-type]
        print(
            f"single-row insert as mapper_app: with the owner's read line {new * 1e3:.3f} ms, "
            f"without (down below 0032) {old * 1e3:.3f} ms, ratio {new / old:.3f}"
        )


if __name__ == "__main__":
    main()
