"""RLS cost: a tenant's latest 50 records and single-row inserts, as a mapper_app member under
row-level security versus the superuser (no RLS) with an explicit tenant filter, same run.
Both sides send the same transactions (set_config of the tenant, then the statement; the audit
trigger needs the context either way), so the difference is the cost of RLS itself.

    .venv/bin/python bench/rls_cost.py [--tenants 100] [--rows 10000]

Target (issue 3): ratio <= 1.15 for both.
"""

from __future__ import annotations

import argparse
import random

import psycopg

from schema_common import DB, bench_cluster, compare, load, tenant_id

LATEST_RLS = (
    "select id, created_at, detector_type, taxonomy_labels, confidence_score "
    "from mapper.storage_records order by created_at desc limit 50"
)
LATEST_EXPLICIT = (
    "select id, created_at, detector_type, taxonomy_labels, confidence_score "
    "from mapper.storage_records where tenant_id = %s order by created_at desc limit 50"
)
INSERT = (
    "insert into mapper.storage_records (tenant_id, source_data_hash, detector_type, "
    "taxonomy_labels, confidence_score, model_version, correlation_id, azure_region, payload, "
    "payload_key_version) values (%s, %s, 'pii', '{PII.Contact.Email}', 0.5, 'v1', %s, "
    "'westeurope', '\\x0011', %s)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000, help="storage records per tenant")
    parser.add_argument("--queries", type=int, default=300, help="queries per round")
    args = parser.parse_args()
    rng = random.Random(7)
    with bench_cluster() as pg:
        seconds = load(pg, DB, args.tenants, args.rows)
        print(
            f"loaded {args.tenants * args.rows} records over {args.tenants} tenants "
            f"in {seconds:.0f} s"
        )
        tenants = [tenant_id(rng.randint(1, args.tenants)) for _ in range(args.queries)]
        with (
            psycopg.connect(pg.conninfo(DB, "bench_app")) as app,
            psycopg.connect(pg.superuser_conninfo(DB)) as su,
        ):

            def app_latest(i: int) -> None:
                with app.transaction():
                    app.execute("select set_config('app.tenant_id', %s, true)", (tenants[i],))
                    assert len(app.execute(LATEST_RLS).fetchall()) == 50

            def su_latest(i: int) -> None:
                with su.transaction():
                    su.execute("select set_config('app.tenant_id', %s, true)", (tenants[i],))
                    assert len(su.execute(LATEST_EXPLICIT, (tenants[i],)).fetchall()) == 50

            rls, plain = compare(args.queries, app_latest, su_latest)
            print(
                f"latest 50 records: mapper_app+RLS {rls * 1e3:.3f} ms, superuser+filter "
                f"{plain * 1e3:.3f} ms, ratio {rls / plain:.3f}"
            )

            counter = iter(range(10**9))

            def inserter(conn: psycopg.Connection[object]) -> object:
                def run(i: int) -> None:
                    n = next(counter)
                    with conn.transaction():
                        conn.execute("select set_config('app.tenant_id', %s, true)", (tenants[i],))
                        conn.execute(INSERT, (tenants[i], f"{n:064x}", f"b-{n}", "0" * 32))

                return run

            rls, plain = compare(args.queries, inserter(app), inserter(su))  # type: ignore[arg-type]
            print(
                f"single-row insert: mapper_app+RLS {rls * 1e3:.3f} ms, superuser "
                f"{plain * 1e3:.3f} ms, ratio {rls / plain:.3f}"
            )


if __name__ == "__main__":
    main()
