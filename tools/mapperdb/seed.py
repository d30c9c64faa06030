"""``mapperdb seed``: realistic demo or load data, written the way the application writes it.

Every row goes in through ``mapper_app`` (``set local role mapper_app``) with the tenant context
set (``set_config('app.tenant_id', ..., true)``), by COPY: seeding exercises row-level security,
the CHECK constraints and the audit trigger, and it is fast (one statement per table and
tenant, so one audit-chain append of N links each). Per tenant: one configuration row, N storage
records, one detector execution per record (same correlation id; a few failed or timed out),
N/10 model metrics, and the audit links the triggers write for all of them.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import psycopg

from mapperdb.db import Connector, first_line, resolve_conninfo
from mapperdb.errors import EnvironmentProblem

APP_ROLE = "mapper_app"
DETECTORS = {
    "pii": ["PII.Contact.Email", "PII.Contact.Phone", "PII.Identity.Name", "PII.Financial.IBAN"],
    "toxicity": ["HARM.Toxicity.Insult", "HARM.Toxicity.Threat", "HARM.Toxicity.Profanity"],
    "prompt_injection": ["SECURITY.PromptInjection.Direct", "SECURITY.PromptInjection.Indirect"],
    "jailbreak": ["SECURITY.Jailbreak.Roleplay", "SECURITY.Jailbreak.Encoding"],
}
REGIONS = ("westeurope", "northeurope", "eastus2", "swedencentral")
MODEL_VERSIONS = ("llama-mapper-1.4.2", "llama-mapper-1.5.0")
METRICS = ("f1", "precision", "recall", "latency_p95_ms")
STORAGE_COLUMNS = (
    "tenant_id, created_at, source_data_hash, detector_type, taxonomy_labels, confidence_score, "
    "model_version, correlation_id, azure_region, backup_status, payload, payload_key_version, "
    "metadata"
)
EXECUTION_COLUMNS = (
    "tenant_id, started_at, finished_at, detector_type, status, error_code, correlation_id"
)
METRIC_COLUMNS = "tenant_id, recorded_at, model_version, detector_type, metric_name, metric_value"
CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class SeedResult:
    tenants: int
    storage_records: int
    detector_executions: int
    model_metrics: int
    seconds: float


@dataclass(frozen=True)
class _Record:
    at: datetime
    detector: str
    correlation_id: str


def _window(now: datetime) -> tuple[datetime, float]:
    """Timestamps fall in this month's partition (up to 30 days back): no default-partition
    detour, whatever the day of the month."""
    start = max(now - timedelta(days=30), now.replace(day=1, hour=0, minute=0, second=0))
    return start, max((now - start).total_seconds() - 1, 1.0)


def _records(rng: random.Random, rows: int, now: datetime) -> list[_Record]:
    start, span = _window(now)
    return sorted(
        (
            _Record(
                start + timedelta(seconds=rng.uniform(0, span)),
                rng.choice(list(DETECTORS)),
                f"req-{rng.getrandbits(64):016x}",
            )
            for _ in range(rows)
        ),
        key=lambda r: r.at,
    )


def _chunks(lines: Iterator[str]) -> Iterator[str]:
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= CHUNK_ROWS:
            yield "".join(buffer)
            buffer.clear()
    if buffer:
        yield "".join(buffer)


def _storage_lines(rng: random.Random, tenant: str, key: str, recs: list[_Record]) -> Iterator[str]:
    for rec in recs:
        labels = rng.sample(DETECTORS[rec.detector], k=rng.randint(1, 2))
        status = "backed_up" if rng.random() < 0.9 else "pending"
        yield (
            f"{tenant}\t{rec.at.isoformat()}\t{rng.getrandbits(256):064x}\t{rec.detector}\t"
            f"{{{','.join(labels)}}}\t{rng.betavariate(8, 2):.4f}\t{rng.choice(MODEL_VERSIONS)}\t"
            f"{rec.correlation_id}\t{rng.choice(REGIONS)}\t{status}\t"
            f"\\\\x{rng.getrandbits(384):096x}\t{key}\t"
            f'{{"channel": "{rng.choice(("api", "batch", "stream"))}", "tokens": '
            f"{rng.randint(20, 4000)}}}\n"
        )


def _execution_lines(rng: random.Random, tenant: str, recs: list[_Record]) -> Iterator[str]:
    for rec in recs:
        roll = rng.random()
        status, error = (
            ("failed", "MODEL_ERROR")
            if roll < 0.03
            else ("timed_out", "DETECTOR_TIMEOUT")
            if roll < 0.05
            else ("succeeded", "\\N")
        )
        started = rec.at - timedelta(milliseconds=rng.randint(5, 900))
        yield (
            f"{tenant}\t{started.isoformat()}\t{rec.at.isoformat()}\t{rec.detector}\t{status}\t"
            f"{error}\t{rec.correlation_id}\n"
        )


def _metric_lines(rng: random.Random, tenant: str, recs: list[_Record]) -> Iterator[str]:
    for rec in recs[:: max(1, 10)]:
        name = rng.choice(METRICS)
        value = rng.uniform(40, 400) if name.startswith("latency") else rng.uniform(0.8, 0.99)
        yield (
            f"{tenant}\t{rec.at.isoformat()}\t{rng.choice(MODEL_VERSIONS)}\t{rec.detector}\t"
            f"{name}\t{value:.4f}\n"
        )


def _copy(cur: psycopg.Cursor[Any], table: str, columns: str, lines: Iterator[str]) -> int:
    """COPY into a staging table, then one INSERT ... SELECT into the tenant table: COPY itself
    refuses tables with row-level security, and the INSERT is where RLS, the CHECKs and the
    statement-level audit trigger apply (once for the whole batch)."""
    stage = f"seed_{table}"
    cur.execute(
        f"create temp table {stage} on commit drop as "
        f"select {columns} from mapper.{table} with no data"
    )
    with cur.copy(f"copy {stage} ({columns}) from stdin") as copy:
        for chunk in _chunks(lines):
            copy.write(chunk)
    cur.execute(f"insert into mapper.{table} ({columns}) select {columns} from {stage}")
    return cur.rowcount


def _ensure_app_member(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("select pg_has_role(current_user, %s, 'member')", (APP_ROLE,)).fetchone()
    if row is not None and row[0]:
        return
    try:
        conn.execute(f"grant {APP_ROLE} to current_user")
    except psycopg.Error:
        raise EnvironmentProblem(
            f"the seed writes as {APP_ROLE}: connect as a member of {APP_ROLE} "
            "(or as an admin that may grant it)"
        ) from None
    print(f"seed: granted {APP_ROLE} to the connecting user to write as the app", file=sys.stderr)


def _seed_tenant(conn: psycopg.Connection[Any], n: int, rows: int, seed: int) -> tuple[int, ...]:
    """One tenant in one transaction, as mapper_app with the tenant context."""
    rng = random.Random(seed * 1_000_003 + n)  # noqa: S311 - demo data, not secrets
    tenant_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    tenant = str(tenant_id)
    key = f"{rng.getrandbits(128):032x}"
    recs = _records(rng, rows, datetime.now(UTC))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"set local role {APP_ROLE}")
        cur.execute("select set_config('app.tenant_id', %s, true)", (tenant,))
        cur.execute("select set_config('app.actor', 'mapperdb-seed', true)")
        cur.execute(
            "insert into mapper.tenant_configs (tenant_id, name, retention_days, "
            "key_vault_key_uri, allowed_detector_types) values (%s, %s, %s, %s, %s)",
            (
                tenant_id,
                f"Demo tenant {n + 1}",
                rng.choice((30, 90, 365)),
                f"https://kv-mapper-demo.vault.azure.net/keys/tenant-{tenant[:8]}/{key}",
                list(DETECTORS),
            ),
        )
        return (
            _copy(cur, "storage_records", STORAGE_COLUMNS, _storage_lines(rng, tenant, key, recs)),
            _copy(
                cur, "detector_executions", EXECUTION_COLUMNS, _execution_lines(rng, tenant, recs)
            ),
            _copy(cur, "model_metrics", METRIC_COLUMNS, _metric_lines(rng, tenant, recs)),
        )


def seed_database(
    conninfo: str,
    tenants: int = 3,
    rows: int = 1000,
    *,
    workers: int | None = None,
    random_seed: int | None = None,
) -> SeedResult:
    """Seed ``tenants`` new tenants with ``rows`` storage records each, ``workers`` tenants at a
    time (default: one per CPU); returns what was written. A ``random_seed`` makes the data (and
    the tenant ids) reproducible; by default every call adds new tenants."""
    if tenants < 1 or rows < 0:
        raise ValueError("tenants must be >= 1 and rows >= 0")
    seed = random_seed if random_seed is not None else random.SystemRandom().getrandbits(32)
    workers = max(1, min(tenants, workers or os.cpu_count() or 1))
    started = time.monotonic()
    connector = Connector(conninfo)
    with connector.connect(autocommit=True) as conn:
        _ensure_app_member(conn)

    def work(first: int) -> list[tuple[int, ...]]:
        with connector.connect(autocommit=True) as conn:
            return [_seed_tenant(conn, n, rows, seed) for n in range(first, tenants, workers)]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = [t for batch in pool.map(work, range(workers)) for t in batch]
    with connector.connect(autocommit=True) as conn:
        row = conn.execute(
            "select has_function_privilege('mapper.refresh_daily_aggregates()', 'execute')"
        ).fetchone()
        if row is not None and row[0]:
            conn.execute("select mapper.refresh_daily_aggregates()")
    return SeedResult(
        tenants=len(done),
        storage_records=sum(t[0] for t in done),
        detector_executions=sum(t[1] for t in done),
        model_metrics=sum(t[2] for t in done),
        seconds=time.monotonic() - started,
    )


@click.command()
@click.option("--dsn", help="Connection string (else DATABASE_URL, else the PG* variables).")
@click.option("--tenants", type=click.IntRange(1, 100_000), default=3, show_default=True)
@click.option(
    "--rows",
    type=click.IntRange(0, 100_000_000),
    default=1000,
    show_default=True,
    help="Storage records per tenant.",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Tenants seeded in parallel (default: CPUs)."
)
@click.option("--random-seed", type=int, help="Reproducible data and tenant ids.")
def seed(
    dsn: str | None, tenants: int, rows: int, workers: int | None, random_seed: int | None
) -> None:
    """Load realistic demo or load data through the app role (RLS, checks and audit apply)."""
    try:
        result = seed_database(
            resolve_conninfo(dsn), tenants, rows, workers=workers, random_seed=random_seed
        )
    except psycopg.Error as exc:
        raise EnvironmentProblem(
            f"seeding failed: {first_line(exc)}; are the migrations applied (mapperdb migrate up)?"
        ) from None
    click.echo(
        f"seeded {result.tenants} tenants: {result.storage_records} storage records, "
        f"{result.detector_executions} detector executions, {result.model_metrics} model "
        f"metrics in {result.seconds:.1f} s"
    )
