"""Analyzer speed: ``mapperdb analyze`` (every check, index advice with hypopg) on a database with
a million storage records (100 tenants x 10,000, loaded in bulk) after the service ran a mixed
workload with one slow lookup, as the analyzer's login (pg_monitor + mapper_readonly), against a
baseline in the same script and server:

- ``count(*)``: one full count of mapper.storage_records (by the superuser: under row-level
  security the analyzer's login, with no tenant, would read nothing): the yardstick of "as long
  as reading the big table once".

    .venv/bin/python bench/analyze_cost.py [--tenants 100] [--rows 10000] [--runs 5]

Target (issue 15): a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from mapperdb.analyze.model import Thresholds
from mapperdb.analyze.run import analyze
from schema_common import DB, bench_cluster, load, tenant_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with bench_cluster() as pg:
        seconds = load(pg, DB, args.tenants, args.rows)
        print(f"loaded {args.tenants * args.rows} records in {seconds:.1f} s")
        with psycopg.connect(pg.superuser_conninfo(DB), autocommit=True) as conn:
            conn.execute("create extension hypopg")
            conn.execute("create role bench_analyzer login in role pg_monitor, mapper_readonly")
            conn.execute("vacuum analyze")
            conn.execute("select pg_stat_statements_reset()")
        with psycopg.connect(pg.conninfo(DB, "bench_app")) as conn:
            for n in range(20):
                with conn.transaction():
                    conn.execute("select set_config('app.tenant_id', %s, true)", (tenant_id(1),))
                    conn.execute(
                        "select id from mapper.storage_records where tenant_id = %s"
                        " order by created_at desc limit 50",
                        (tenant_id(1),),
                    ).fetchall()
                    conn.execute(
                        "select id from mapper.storage_records where source_data_hash = %s",
                        (f"{n:064x}",),
                    ).fetchall()
        analyzer, baseline = [], []
        with (
            psycopg.connect(pg.conninfo(DB, "bench_analyzer"), autocommit=True) as conn,
            psycopg.connect(pg.superuser_conninfo(DB), autocommit=True) as scan,
        ):
            for _ in range(args.runs):
                started = time.perf_counter()
                report = analyze(conn, thresholds=Thresholds(slow_mean_ms=0.5))
                analyzer.append(time.perf_counter() - started)
                started = time.perf_counter()
                scan.execute("select count(*) from mapper.storage_records").fetchone()
                baseline.append(time.perf_counter() - started)
        advice = [f for f in report.findings if f.rule == "AN002"]
        a, b = statistics.median(analyzer), statistics.median(baseline)
        spread = f"{min(analyzer):.2f}..{max(analyzer):.2f}"
        print(f"analyze: median {a:.2f} s over {args.runs} runs ({spread})")
        print(f"count(*) baseline: median {b:.2f} s")
        print(f"ratio analyze / count(*): {a / b:.2f}; index advice: {len(advice)}")
        print(f"checks that could not run: {report.failed or 'none'}")


if __name__ == "__main__":
    main()
