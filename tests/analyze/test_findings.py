"""Each finding of mapperdb analyze, provoked on a real server; and silence where the shipped
schema's normal workload gives no reason to speak."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from mapperdb.analyze.model import Thresholds
from mapperdb.analyze.run import Report, analyze
from mapperdb.db import Connector
from mapperdb.findings import Severity
from mapperdb.lint.api import lint
from mapperdb.migrate.runner import Runner
from tests.analyze.conftest import EAGER, by_rule, run_as_app
from tests.conftest import MIGRATIONS, Database
from tests.schema.schema_helpers import TENANT_A, tenant

SLOW = ("select id from mapper.storage_records where source_data_hash = %s", (f"{7:064x}",))
# The queries the shipped indexes serve (docs/schema.md, Indexes), as the service runs them.
NORMAL: list[tuple[str, tuple[Any, ...]]] = [
    (
        "select id, created_at from mapper.storage_records where tenant_id = %s"
        " order by created_at desc limit 50",
        (TENANT_A,),
    ),
    (
        "select id from mapper.storage_records where tenant_id = %s and correlation_id = %s",
        (TENANT_A, "corr-5"),
    ),
    (
        "select count(*) from mapper.storage_records where tenant_id = %s and detector_type = %s"
        " and created_at >= now() - interval '7 days'",
        (TENANT_A, "pii"),
    ),
    (
        "select id from mapper.detector_executions where tenant_id = %s and status = %s"
        " and started_at >= now() - interval '1 day'",
        (TENANT_A, "failed"),
    ),
    (
        "select id from mapper.detector_executions where tenant_id = %s and correlation_id = %s",
        (TENANT_A, "corr-5"),
    ),
    (
        "select metric_value from mapper.model_metrics where tenant_id = %s"
        " and model_version = %s and metric_name = %s"
        " and recorded_at >= now() - interval '30 days'",
        (TENANT_A, "v1.0.0", "f1"),
    ),
    ("select name from mapper.tenant_configs where tenant_id = %s", (TENANT_A,)),
]


def test_a_slow_query_gets_verified_index_advice_as_a_migration_that_works(
    busy: Database, run_analyzer: Callable[..., Report], tmp_path: Path
) -> None:
    run_as_app(busy, [SLOW])
    report = run_analyzer(busy)
    advice = by_rule(report, "AN002")
    assert len(advice) == 1, report.findings
    finding = advice[0]
    assert finding.file == "mapper.storage_records"
    assert "source_data_hash" in finding.message
    factor = float(finding.extra["evidence"].split("(")[1].split("x")[0])
    assert factor >= Thresholds().advice_factor
    # The migration passes the SQL gate and, applied, makes the statement use an index.
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    shutil.copy(MIGRATIONS.parent.parent / ".sqlfluff", tmp_path)  # the repository's style
    version = max(int(p.name[:4]) for p in migrations.glob("*.sql")) + 1
    stem = f"{version:04d}_{finding.extra['index']}"
    (migrations / f"{stem}.up.sql").write_text(finding.extra["migration_up"])
    (migrations / f"{stem}.down.sql").write_text(finding.extra["migration_down"])
    result = lint([migrations / f"{stem}.up.sql", migrations / f"{stem}.down.sql"], None)
    assert [f for f in result.findings if f.severity is Severity.ERROR] == []
    Runner(Connector(busy.admin_conninfo), migrations).up()
    with psycopg.connect(busy.conninfo("app_user")) as conn, tenant(conn, TENANT_A) as cur:
        plan = "\n".join(r[0] for r in cur.execute("explain " + SLOW[0], SLOW[1]).fetchall())
    assert finding.extra["index"].removesuffix("_idx") in plan or "Index" in plan, plan
    assert by_rule(run_analyzer(busy), "AN002") == []


def test_no_advice_on_the_shipped_schemas_normal_workload(
    busy: Database, run_analyzer: Callable[..., Report]
) -> None:
    run_as_app(busy, NORMAL)
    report = run_analyzer(busy)
    statements = by_rule(report, "AN001")
    assert len(statements) >= len(NORMAL) - 1  # every query was seen and tried
    assert by_rule(report, "AN002") == []
    assert report.failed == {}


def test_an_operator_gets_advice_without_hypopg_installed_and_nothing_stays(
    busy: Database, superuser: psycopg.Connection[Any]
) -> None:
    """A login of Azure's admin group (it may create allowed extensions) that may also read the
    tables: hypopg exists for the analysis only."""
    superuser.execute("drop extension hypopg")
    superuser.execute(
        "do $$ begin if not exists (select from pg_roles where rolname = 'operator_user') then"
        " create role operator_user login in role azure_pg_admin, pg_monitor, mapper_readonly;"
        " end if; end $$"
    )
    run_as_app(busy, [SLOW])
    with psycopg.connect(busy.conninfo("operator_user"), autocommit=True) as conn:
        report = analyze(conn, thresholds=EAGER)
    assert len(by_rule(report, "AN002")) == 1
    extensions = superuser.execute(
        "select count(*) from pg_extension where extname = 'hypopg'"
    ).fetchone()
    assert extensions == (0,)


def test_a_login_that_cannot_read_the_tables_is_told_so(busy: Database) -> None:
    """The admin has no rights on mapper's tables (it acts as mapper_owner only by set role):
    the statements it cannot plan are named, not silently left out, and the check still runs."""
    run_as_app(busy, [SLOW])
    with psycopg.connect(busy.admin_conninfo, autocommit=True) as conn:
        report = analyze(conn, thresholds=EAGER)
    assert "AN002" not in report.failed
    [note] = by_rule(report, "AN002")
    assert note.severity is Severity.INFO and "cannot be planned" in note.message
    assert "source_data_hash" in note.extra["evidence"]


def test_without_hypopg_the_analyzer_login_says_how_to_get_advice(
    busy: Database, run_analyzer: Callable[..., Report]
) -> None:
    with psycopg.connect(busy.admin_conninfo, autocommit=True) as conn:
        conn.execute("drop extension hypopg")
    run_as_app(busy, [SLOW])
    [note] = by_rule(run_analyzer(busy), "AN002")
    assert note.severity is Severity.INFO
    assert "create extension hypopg" in note.extra["fix"]


def test_unused_duplicate_redundant_indexes_and_an_unindexed_foreign_key(
    busy: Database, run_analyzer: Callable[..., Report], superuser: psycopg.Connection[Any]
) -> None:
    superuser.execute(
        "create table mapper.probe (tenant_id uuid references mapper.tenant_configs, a int, b int);"
        "create index probe_a on mapper.probe (a);"
        "create index probe_a_again on mapper.probe (a);"
        "create index probe_a_b on mapper.probe (a, b);"
    )
    report = run_analyzer(busy)
    assert {f.file for f in by_rule(report, "AN003")} >= {"mapper.probe_a", "mapper.probe_a_b"}
    assert all(f.severity is Severity.WARNING for f in by_rule(report, "AN003"))
    assert [f.file for f in by_rule(report, "AN004")] == ["mapper.probe_a_again"]
    assert {f.file for f in by_rule(report, "AN005")} == {"mapper.probe_a", "mapper.probe_a_again"}
    assert [f.file for f in by_rule(report, "AN006")] == ["mapper.probe.probe_tenant_id_fkey"]
    # With less history than --since, unused indexes are information, not advice.
    quiet = run_analyzer(busy, Thresholds(min_history=Thresholds().min_history))
    assert {f.severity for f in by_rule(quiet, "AN003")} == {Severity.INFO}


def test_bloat_and_autovacuum_behind(
    busy: Database, run_analyzer: Callable[..., Report], superuser: psycopg.Connection[Any]
) -> None:
    superuser.execute(
        "create table mapper.churn (id int primary key, body text)"
        " with (autovacuum_enabled = false);"
        "insert into mapper.churn select n, repeat('x', 40) from generate_series(1, 200000) n;"
        "delete from mapper.churn where id % 10 <> 0;"
        "analyze mapper.churn;"
        "select pg_stat_force_next_flush();"
    )
    report = run_analyzer(busy, Thresholds(bloat_min_bytes=1024 * 1024))
    assert [f.file for f in by_rule(report, "AN007")] == ["mapper.churn"]
    assert [f.file for f in by_rule(report, "AN008")] == ["mapper.churn_pkey"]
    [behind] = by_rule(report, "AN009")
    assert behind.file == "mapper.churn" and "autovacuum_enabled=false" in behind.extra["evidence"]


def test_wraparound_and_a_sequence_near_its_end(
    busy: Database, run_analyzer: Callable[..., Report], superuser: psycopg.Connection[Any]
) -> None:
    superuser.execute(
        "create sequence mapper.small_seq maxvalue 100; select setval('mapper.small_seq', 96);"
        "grant select on sequence mapper.small_seq to mapper_readonly"
    )
    report = run_analyzer(busy, Thresholds(xid_warning=1e-9, xid_error=1.0))
    [age] = by_rule(report, "AN010")
    assert age.file == busy.name and age.severity is Severity.WARNING
    [seq] = by_rule(report, "AN011")
    assert seq.file == "mapper.small_seq" and seq.severity is Severity.ERROR


def test_missing_current_partition_and_rows_in_the_default(
    busy: Database, run_analyzer: Callable[..., Report], superuser: psycopg.Connection[Any]
) -> None:
    assert by_rule(run_analyzer(busy), "AN012") == []
    [current] = superuser.execute(
        "select c.oid::regclass::text from pg_inherits i join pg_class c on c.oid = i.inhrelid"
        " where i.inhparent = 'mapper.model_metrics'::regclass"
        " and c.relname = 'model_metrics_p' || to_char(now() at time zone 'UTC', 'YYYYMM')"
    ).fetchone() or (None,)
    superuser.execute(f"drop table {current}")
    with psycopg.connect(busy.conninfo("app_user")) as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            "insert into mapper.model_metrics (tenant_id, model_version, detector_type,"
            " metric_name, metric_value) values (%s, 'v1.0.0', 'pii', 'f1', 0.5)",
            (TENANT_A,),
        )
    superuser.execute("analyze mapper.model_metrics")
    report = run_analyzer(busy)
    [gap] = by_rule(report, "AN012")
    assert gap.file == "mapper.model_metrics" and gap.severity is Severity.ERROR
    assert [f.file for f in by_rule(report, "AN013")] == ["mapper.model_metrics_default"]
    assert not report.ok


def test_a_policy_reading_the_setting_per_row(
    busy: Database, run_analyzer: Callable[..., Report], superuser: psycopg.Connection[Any]
) -> None:
    assert by_rule(run_analyzer(busy), "AN015") == []  # the shipped policies wrap it
    superuser.execute(
        "create table mapper.leaky (tenant_id uuid);"
        "alter table mapper.leaky enable row level security;"
        "create policy leaky_tenant on mapper.leaky"
        " using (tenant_id = current_setting('app.tenant_id')::uuid)"
    )
    [found] = by_rule(run_analyzer(busy), "AN015")
    assert found.file == "mapper.leaky policy leaky_tenant"


def test_idle_in_transaction_and_blocked_sessions(
    busy: Database, run_analyzer: Callable[..., Report]
) -> None:
    holder = psycopg.connect(busy.conninfo("app_user"))
    waiter = psycopg.connect(busy.conninfo("app_user"), autocommit=True)
    try:
        holder.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
        holder.execute(
            "update mapper.tenant_configs set name = 'held' where tenant_id = %s", (TENANT_A,)
        )
        holder_pid = holder.info.backend_pid

        def wait() -> None:
            try:
                with waiter.transaction():
                    waiter.execute("set local lock_timeout = '20s'")
                    waiter.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
                    waiter.execute(
                        "update mapper.tenant_configs set name = 'waiter' where tenant_id = %s",
                        (TENANT_A,),
                    )
            except psycopg.Error:
                pass  # ended by the holder's rollback or its own lock_timeout

        thread = threading.Thread(target=wait)
        thread.start()
        deadline = time.monotonic() + 20  # a hang detector: the wait shows within milliseconds
        with psycopg.connect(busy.superuser_conninfo, autocommit=True) as watch:
            while (
                time.monotonic() < deadline
                and not watch.execute(
                    "select 1 from pg_stat_activity where %s = any(pg_blocking_pids(pid))",
                    (holder_pid,),
                ).fetchone()
            ):
                time.sleep(0.02)
        report = run_analyzer(busy)
        assert f"session {holder_pid}" in {f.file for f in by_rule(report, "AN016")}
        [blocked] = by_rule(report, "AN017")
        assert f"blocked by {holder_pid}" in blocked.message
    finally:
        holder.rollback()
        holder.close()
        thread.join(timeout=30)
        waiter.close()


def test_the_analyzer_login_needs_no_superuser_and_changes_nothing(
    busy: Database, run_analyzer: Callable[..., Report], superuser: psycopg.Connection[Any]
) -> None:
    before = superuser.execute("select count(*) from pg_class").fetchone()
    run_as_app(busy, [SLOW, *NORMAL])
    report = run_analyzer(busy)
    assert report.failed == {}
    assert report.user == "analyzer_user"
    # No index, table or extension was left behind (hypothetical indexes are not relations).
    assert superuser.execute("select count(*) from pg_class").fetchone() == before
