"""Retention: removing one expired month by dropping its partition versus DELETE of the same
rows (one statement, then the VACUUM it owes), and the two paths of mapper.purge_expired: the
drop path (per-tenant counts and audit links, then the drop) and batched deletes (taken when
some tenant still keeps that month).

    .venv/bin/python bench/retention_cost.py [--tenants 100] [--rows 3000]

Each variant runs on its own clone of the same loaded database.
"""

from __future__ import annotations

import argparse
import time

import psycopg

from schema_common import DB, bench_cluster, load

OLD_MONTH = 3  # months back


def timed_sql(conninfo: str, statements: list[str]) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in statements[:-1]:
            conn.execute(statement)
        started = time.perf_counter()
        conn.execute(statements[-1])
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=3000, help="records per tenant in the month")
    args = parser.parse_args()
    with bench_cluster() as pg:
        load(pg, DB, args.tenants, args.rows, month_offset=OLD_MONTH)
        load(pg, DB, args.tenants, args.rows // 3)  # this month's data stays
        with psycopg.connect(pg.superuser_conninfo(DB), autocommit=True) as conn:
            conn.execute("set session_replication_role = replica")
            conn.execute("update mapper.tenant_configs set retention_days = 30")
            row = conn.execute(
                "select count(*) from mapper.storage_records where created_at < "
                "date_trunc('month', now()) - interval '2 months'"
            ).fetchone()
        assert row is not None
        expired = int(row[0])
        with psycopg.connect(pg.superuser_conninfo(DB), autocommit=True) as conn:
            row = conn.execute(
                "select to_char(date_trunc('month', now()) - interval '3 months', 'YYYYMM')"
            ).fetchone()
        assert row is not None
        partition = f"mapper.storage_records_p{row[0]}"
        for name in ("bench_drop", "bench_delete", "bench_batched", "bench_purge"):
            pg.create_database(name, template=DB)
        with psycopg.connect(pg.superuser_conninfo("bench_batched"), autocommit=True) as conn:
            conn.execute("set session_replication_role = replica")
            conn.execute(  # one tenant keeps ten years: no whole partition can go
                "update mapper.tenant_configs set retention_days = 3650 where tenant_id = "
                "(select tenant_id from mapper.tenant_configs order by tenant_id limit 1)"
            )
        drop = timed_sql(
            pg.admin_conninfo("bench_drop"), ["set role mapper_owner", f"drop table {partition}"]
        )
        purge = timed_sql(
            pg.admin_conninfo("bench_purge"),
            ["select count(*) from mapper.purge_expired(p_max_batches => 100000)"],
        )
        delete_sql = [
            "set role mapper_owner",
            "select set_config('mapper.maintenance', 'on', false)",
            "delete from mapper.storage_records where created_at < "
            "date_trunc('month', now()) - interval '2 months'",
        ]
        delete = timed_sql(pg.admin_conninfo("bench_delete"), delete_sql)
        vacuum = timed_sql(pg.admin_conninfo("bench_delete"), ["vacuum mapper.storage_records"])
        batched = timed_sql(
            pg.admin_conninfo("bench_batched"),
            ["select count(*) from mapper.purge_expired(p_max_batches => 100000)"],
        )
        print(f"expired month: {expired} rows over {args.tenants} tenants")
        print(f"drop partition: {drop * 1e3:.1f} ms")
        print(
            f"single DELETE: {delete * 1e3:.1f} ms ({delete / drop:.1f}x the drop), "
            f"then VACUUM {vacuum * 1e3:.1f} ms ({(delete + vacuum) / drop:.1f}x together)"
        )
        print(
            f"purge_expired, drop path (count and audit per tenant, then drop): "
            f"{purge * 1e3:.1f} ms"
        )
        print(
            f"batched DELETE (purge_expired, 10000-row batches): {batched * 1e3:.1f} ms "
            f"({batched / drop:.1f}x the drop; one tenant's {expired // args.tenants} rows kept)"
        )


if __name__ == "__main__":
    main()
