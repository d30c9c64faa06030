"""Start-up and per-test isolation costs of the ephemeral PostgreSQL.

    .venv/bin/python bench/sandbox_start.py [--repeat 5]

Measured in one run, each against a named baseline:
* ``EphemeralPostgres`` ready (Azure shape, roles, allow-list) vs a vanilla ``initdb`` +
  ``pg_ctl start -w`` of the same binaries (baseline);
* ``mapperdb sandbox`` until it prints ``DSN=`` (process start, imports, migrations included);
* a per-test database cloned from a migrated template vs creating a database and applying
  every migration in ``sql/migrations`` (baseline).
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from mapperdb.pg.binaries import find_server
from mapperdb.pg.ephemeral import EphemeralPostgres, _run_as, free_port

REPO = Path(__file__).resolve().parent.parent


def vanilla_start() -> float:
    install = find_server()
    run_as = _run_as()
    root = Path(tempfile.mkdtemp(prefix="bench-vanilla-"))
    kwargs: dict[str, object] = {}
    if run_as:
        os.chown(root, run_as.uid, run_as.gid)
        kwargs = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
    data = root / "data"
    started = time.perf_counter()
    subprocess.run([str(install.tool("initdb")), "-D", str(data), "--no-sync", "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    opts = f"-p {free_port()} -k {root} -c listen_addresses=''"
    subprocess.run([str(install.tool("pg_ctl")), "-D", str(data), "-o", opts, "-w", "-l", str(root / "log"), "start"],
                   check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - started
    subprocess.run([str(install.tool("pg_ctl")), "-D", str(data), "-m", "immediate", "stop"],
                   check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    shutil.rmtree(root)
    return elapsed


def ephemeral_start() -> float:
    started = time.perf_counter()
    with EphemeralPostgres():
        return time.perf_counter() - started


def sandbox_dsn() -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mapperdb", "sandbox"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    assert line.startswith("DSN="), line
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    return elapsed


def isolation(pg: EphemeralPostgres, template: str) -> tuple[float, float]:
    name = f"b_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    pg.create_database(name, template=template)
    clone = time.perf_counter() - started
    pg.drop_database(name)
    started = time.perf_counter()
    pg.create_database(name)
    Runner(Connector(pg.admin_conninfo(name)), REPO / "sql" / "migrations").up()
    fresh = time.perf_counter() - started
    pg.drop_database(name)
    return clone, fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    med = statistics.median
    vanilla = med(vanilla_start() for _ in range(args.repeat))
    ours = med(ephemeral_start() for _ in range(args.repeat))
    sandbox = med(sandbox_dsn() for _ in range(args.repeat))
    with EphemeralPostgres() as pg:
        pg.create_database("bench_template")
        Runner(Connector(pg.admin_conninfo("bench_template")), REPO / "sql" / "migrations").up()
        pairs = [isolation(pg, "bench_template") for _ in range(args.repeat)]
    clone, fresh = med(p[0] for p in pairs), med(p[1] for p in pairs)
    print(f"| measure (median of {args.repeat}) | seconds | ratio to baseline |")
    print("|---|---:|---:|")
    print(f"| baseline: vanilla initdb + pg_ctl start -w | {vanilla:.3f} | 1.00 |")
    print(f"| EphemeralPostgres ready (Azure shape) | {ours:.3f} | {ours / vanilla:.2f} |")
    print(f"| `mapperdb sandbox` until DSN printed | {sandbox:.3f} | {sandbox / vanilla:.2f} |")
    print(f"| baseline: create database + apply all migrations | {fresh:.3f} | 1.00 |")
    print(f"| per-test clone of the migrated template | {clone:.3f} | {clone / fresh:.2f} |")


if __name__ == "__main__":
    main()
