"""mapperdb.client costs, each against a baseline in the same run:

1. a tenant transaction through ``db.tenant()`` (pool checkout, BEGIN + set_config pipelined,
   the query, COMMIT, ``discard all`` on return) versus a raw psycopg connection kept open
   doing the same transaction by hand (BEGIN, set_config, the query, COMMIT);
2. a cached tenant-config read (Redis) versus the same read from PostgreSQL through db.run();
3. AES-256-GCM encrypt and decrypt of a 4 KiB payload per second, and the cost of getting a
   data key: cached in process versus an RSA-OAEP-256 unwrap (local KEK; Key Vault adds a
   network round trip on top).

    .venv/bin/python bench/client_cost.py [--runs 300]

Target (issue 14): db.tenant() at most 1.10x the raw connection.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import uuid
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
from schema_common import compare

ROOT = Path(__file__).resolve().parent.parent
DB = "mapper"
TENANT = uuid.UUID("aaaaaaaa-0000-4000-8000-0000000000be")
KEK_URI = "https://kv-mapper-bench.vault.azure.net/keys/tenant-kek"
QUERY = "select name, retention_days from mapper.tenant_configs"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="calls per round")
    args = parser.parse_args()
    runs = args.runs
    tenant = str(TENANT)
    with EphemeralPostgres() as pg, tempfile.TemporaryDirectory() as tmp:
        conninfo = setup(pg)
        redis_proc, r = start_redis(Path(tmp))
        try:
            with (
                Database(conninfo, pool_min=1, pool_max=1) as db,
                psycopg.connect(conninfo, autocommit=True) as raw,
            ):
                db.wait()

                def via_client(i: int) -> None:
                    with db.tenant(tenant) as conn:
                        conn.execute(QUERY).fetchall()

                def via_raw(i: int) -> None:
                    with raw.transaction():
                        raw.execute("select set_config('app.tenant_id', %s, true)", (tenant,))
                        raw.execute(QUERY).fetchall()

                def via_raw_pipelined(i: int) -> None:
                    with raw.pipeline():
                        raw.execute("begin")
                        raw.execute("select set_config('app.tenant_id', %s, true)", (tenant,))
                    raw.execute(QUERY).fetchall()
                    raw.commit()

                client_s, raw_s = compare(runs, via_client, via_raw)
                print(
                    f"tenant transaction: db.tenant() {client_s * 1e6:.0f} us, raw connection "
                    f"{raw_s * 1e6:.0f} us, ratio {client_s / raw_s:.3f} (target <= 1.10)"
                )
                client_s, piped_s = compare(runs, via_client, via_raw_pipelined)
                print(
                    f"  same, raw with BEGIN+set_config pipelined too: db.tenant() "
                    f"{client_s * 1e6:.0f} us, raw {piped_s * 1e6:.0f} us, "
                    f"ratio {client_s / piped_s:.3f} (the pool's checkout and discard all)"
                )

                configs = TenantConfigCache(db, Cache(r))
                configs.get(TENANT)

                def cached(i: int) -> Any:
                    return configs.get(TENANT)

                def from_db(i: int) -> Any:
                    return configs._load(TENANT)

                cache_s, db_s = compare(runs, cached, from_db)
                print(
                    f"tenant config: Redis {cache_s * 1e6:.0f} us, PostgreSQL {db_s * 1e6:.0f} us, "
                    f"ratio {cache_s / db_s:.3f}"
                )
            keks = LocalKeks(Path(tmp) / "keks")
            envelope = Envelope(keks)
            with psycopg.connect(conninfo) as conn:
                conn.execute("select set_config('app.tenant_id', %s, true)", (tenant,))
                key = envelope.active_key(conn, TENANT)
                payload = os.urandom(4096)
                record = "storage_records/req-1/" + "0" * 64
                sealed = key.seal(payload, record)

                def seal(i: int) -> Any:
                    return key.seal(payload, record)

                def open_(i: int) -> Any:
                    return key.open(sealed, record)

                seal_s, open_s = compare(runs * 10, seal, open_)
                print(
                    f"AES-256-GCM 4 KiB: encrypt {1 / seal_s:,.0f}/s ({seal_s * 1e6:.1f} us), "
                    f"decrypt {1 / open_s:,.0f}/s ({open_s * 1e6:.1f} us)"
                )
                row = conn.execute(
                    "select kek_key_id, wrapped_key from mapper.tenant_data_keys"
                ).fetchone()
                assert row is not None

                def cached_key(i: int) -> DataKey:
                    return envelope.key(conn, TENANT, key.version)

                def unwrap(i: int) -> bytes:
                    return keks.unwrap(row[0], bytes(row[1]))

                hit_s, unwrap_s = compare(max(runs // 10, 20), cached_key, unwrap)
                print(
                    f"data key: cached {hit_s * 1e6:.1f} us, RSA-OAEP-256 unwrap "
                    f"{unwrap_s * 1e6:.0f} us (local KEK), ratio {unwrap_s / hit_s:,.0f}x"
                )
        finally:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)


if __name__ == "__main__":
    main()
