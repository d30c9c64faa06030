"""mapperdb.client costs, each against a baseline in the same run:

1. a tenant transaction through ``db.tenant()`` (pool checkout, ``begin; close all; select
   mapper.enter_tenant(..)`` in one round trip, the query, ``commit``) versus a raw
   psycopg connection kept open doing the same transaction by hand (BEGIN, set_config, the
   query, COMMIT), both with psycopg's prepared statements, and both without them; and the
   pool checkout alone;
2. a cached tenant-config read (Redis) versus the same read from PostgreSQL through db.run();
3. AES-256-GCM encrypt and decrypt of a 4 KiB payload per second, and the cost of getting a
   data key: cached in process versus an RSA-OAEP-256 unwrap (local KEK; Key Vault adds a
   network round trip on top).

    .venv/bin/python bench/client_cost.py [--runs 2000]

Target (issue 14): db.tenant() at most 1.10x the raw connection.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import redis

from mapperdb.client import Database
from mapperdb.client.cache import Cache, TenantConfigCache, redis_client
from mapperdb.client.envelope import DataKey, Envelope
from mapperdb.client.kek import LocalKeks
from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from mapperdb.pg.ephemeral import EphemeralPostgres

ROOT = Path(__file__).resolve().parent.parent
DB = "mapper"
TENANT = uuid.UUID("aaaaaaaa-0000-4000-8000-0000000000be")
KEK_URI = "https://kv-mapper-bench.vault.azure.net/keys/tenant-kek"
QUERY = "select name, retention_days from mapper.tenant_configs"


def compare(
    runs: int, first: Callable[[int], object], second: Callable[[int], object]
) -> tuple[float, float]:
    """Median seconds per call of each, the two alternating call by call (ABBA order), so that
    the noise of a shared, loaded machine falls on both sides alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(runs):
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            started = time.perf_counter()
            (first, second)[side](i)
            times[side].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def setup(pg: EphemeralPostgres) -> str:
    Runner(Connector(pg.admin_conninfo(DB)), ROOT / "sql/migrations").up()
    with psycopg.connect(pg.admin_conninfo("postgres"), autocommit=True) as conn:
        conn.execute("create role bench_client login in role mapper_app")
    conninfo = pg.conninfo(DB, "bench_client")
    with psycopg.connect(conninfo) as conn:
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT),))
        conn.execute(
            "insert into mapper.tenant_configs (tenant_id, name, key_vault_key_uri) "
            "values (%s, 'Bench tenant', %s)",
            (TENANT, KEK_URI),
        )
    return conninfo


def start_redis(root: Path) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server missing: apt-get install redis-server")
    sock = root / "redis.sock"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--dir", str(root)],
        stdout=subprocess.DEVNULL,
    )
    client = redis_client(f"unix://{sock}")
    for _ in range(500):
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            time.sleep(0.01)
    raise SystemExit("redis-server did not start")


def backend_cpu_ns(pid: int) -> int:
    """CPU time of a server backend so far (Linux schedstat: nanoseconds on CPU)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def bench_transactions(db: Database, runs: int, block: int = 50) -> None:
    """All sides on the same server backend: the pool holds one connection, and the raw sides
    check it out for a block of calls and use it by hand. Sides: ``db.tenant()`` as configured
    (psycopg's prepared statements on); the raw connection with psycopg's defaults (prepared
    after 5 runs: the target's baseline); the raw connection and ``db.tenant()`` with prepared
    statements off (``prepare_threshold=None``, as behind PgBouncer without
    max_prepared_statements). Two measures: the median wall time of a call, and the CPU time
    per call of the client process plus the backend (on this shared 2-core machine, wall time
    measures the scheduler as much as the code)."""
    tenant = str(TENANT)
    pool = db._primary.pool
    with pool.connection() as conn:
        row = conn.execute("select pg_backend_pid()").fetchone()
    assert row is not None
    pid = int(row[0])
    labels = (
        "db.tenant()",
        "raw, psycopg defaults",
        "raw, unprepared",
        "db.tenant(), unprepared",
    )
    wall: tuple[list[float], ...] = tuple([] for _ in labels)
    cpu = [0] * len(labels)

    def via_client() -> None:
        with db.tenant(tenant) as conn:
            conn.execute(QUERY).fetchall()

    def via_raw(raw: psycopg.Connection[Any]) -> None:
        with raw.transaction():
            raw.execute("select set_config('app.tenant_id', %s, true)", (tenant,))
            raw.execute(QUERY).fetchall()

    def timed(side: int, call: Callable[[], None]) -> None:
        cpu_before = time.process_time_ns() + backend_cpu_ns(pid)
        for _ in range(block):
            started = time.perf_counter()
            call()
            wall[side].append(time.perf_counter() - started)
        cpu[side] += time.process_time_ns() + backend_cpu_ns(pid) - cpu_before

    def side_block(side: int) -> None:
        conn = pool.getconn()
        saved = conn.prepare_threshold
        if side in (2, 3):
            conn.prepare_threshold = None  # psycopg keeps its statements but does not use them
        elif side == 1:
            conn.prepare_threshold = 5  # psycopg's default
        if side in (0, 3):
            pool.putconn(conn)
            try:
                timed(side, via_client)
            finally:
                with pool.connection() as again:
                    again.prepare_threshold = saved
            return
        try:
            timed(side, lambda: via_raw(conn))
        finally:
            conn.prepare_threshold = saved
            pool.putconn(conn)

    for n in range(0, runs, block):
        order = range(len(labels)) if (n // block) % 2 == 0 else reversed(range(len(labels)))
        for side in order:
            side_block(side)
    medians = [statistics.median(w) * 1e6 for w in wall]
    cpus = [c / len(w) / 1e3 for c, w in zip(cpu, wall, strict=True)]
    for label, values in (("CPU (client + backend)", cpus), ("wall median", medians)):
        print(
            f"tenant transaction, {label}: "
            + "; ".join(f"{name} {v:.0f} us" for name, v in zip(labels, values, strict=True))
        )
        print(
            f"  ratio db.tenant() / raw with psycopg defaults {values[0] / values[1]:.3f} "
            f"(target <= 1.10); unprepared: db.tenant() / raw {values[3] / values[2]:.3f}"
        )


def bench_checkout(db: Database, runs: int) -> None:
    """psycopg_pool's getconn + putconn alone (no ``check`` callback, no ``reset`` callback:
    nothing leaves the calling thread), client CPU only."""
    pool = db._primary.pool
    started = time.process_time_ns()
    for _ in range(runs * 10):
        pool.putconn(pool.getconn())
    per = (time.process_time_ns() - started) / (runs * 10) / 1e3
    print(f"pool checkout (getconn + putconn): {per:.1f} us CPU")


def bench_cache(db: Database, r: redis.Redis, runs: int) -> None:
    configs = TenantConfigCache(db, Cache(r))
    configs.get(TENANT)
    cache_s, db_s = compare(runs, lambda i: configs.get(TENANT), lambda i: configs._load(TENANT))
    print(
        f"tenant config: Redis {cache_s * 1e6:.0f} us, PostgreSQL {db_s * 1e6:.0f} us, "
        f"ratio {cache_s / db_s:.3f}"
    )


def bench_crypto(conninfo: str, keys_dir: Path, runs: int) -> None:
    keks = LocalKeks(keys_dir)
    envelope = Envelope(keks)
    with psycopg.connect(conninfo) as conn:
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT),))
        key = envelope.active_key(conn, TENANT)
        payload = os.urandom(4096)
        record = "storage_records/req-1/" + "0" * 64
        sealed = key.seal(payload, record)
        seal_s, open_s = compare(
            runs * 10, lambda i: key.seal(payload, record), lambda i: key.open(sealed, record)
        )
        print(
            f"AES-256-GCM 4 KiB: encrypt {1 / seal_s:,.0f}/s ({seal_s * 1e6:.1f} us), "
            f"decrypt {1 / open_s:,.0f}/s ({open_s * 1e6:.1f} us)"
        )
        row = conn.execute("select kek_key_id, wrapped_key from mapper.tenant_data_keys").fetchone()
        assert row is not None

        def cached_key(i: int) -> DataKey:
            return envelope.key(conn, TENANT, key.version)

        def unwrap(i: int) -> bytes:
            return keks.unwrap(row[0], bytes(row[1]))

        hit_s, unwrap_s = compare(max(runs // 20, 20), cached_key, unwrap)
        print(
            f"data key: cached {hit_s * 1e6:.1f} us, RSA-OAEP-256 unwrap {unwrap_s * 1e6:.0f} us "
            f"(local KEK), ratio {unwrap_s / hit_s:,.0f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="calls of each side")
    args = parser.parse_args()
    with EphemeralPostgres() as pg, tempfile.TemporaryDirectory() as tmp:
        conninfo = setup(pg)
        redis_proc, r = start_redis(Path(tmp))
        try:
            with Database(conninfo, pool_min=1, pool_max=1) as db:
                db.wait()
                print(f"load average at start: {os.getloadavg()[0]:.1f} (2 shared cores)")
                bench_transactions(db, args.runs)
                bench_checkout(db, args.runs)
                bench_cache(db, r, args.runs)
            bench_crypto(conninfo, Path(tmp) / "keks", args.runs)
            print(f"load average at end: {os.getloadavg()[0]:.1f}")
        finally:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)


if __name__ == "__main__":
    main()
