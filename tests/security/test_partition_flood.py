"""A tenant that writes old rows cannot make maintenance create a partition per month (0025)
nor fill the default partition that every new partition must scan under an access exclusive
lock on its table (0030): rows older than the oldest month partition go to one range partition,
<table>_before, readable by their tenant alone; each run counts them under their own status,
'outside', which is no failure of the job and no alert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors

from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from tests.conftest import MIGRATIONS, Database
from tests.schema.schema_helpers import TENANT_A, TENANT_B, Speaker, add_tenant, tenant
from tests.security.test_time_values import partition_names

FLOODED = ("storage_records", "model_metrics")
STORAGE_INSERT = (
    "insert into mapper.storage_records (tenant_id, created_at, source_data_hash, "
    "detector_type, taxonomy_labels, confidence_score, model_version, correlation_id, "
    "azure_region, payload, payload_key_version) "
)


def months_since_2000() -> int:
    now = datetime.now(UTC)
    return (now.year - 2000) * 12 + now.month - 1  # 2000-01 up to last month


def flood(speak: Speaker) -> int:
    """As the app, one row of tenant A in every month from 2000-01 to last month."""
    months = months_since_2000()
    with speak.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            STORAGE_INSERT + "select %s, timestamptz '2000-01-15 00:00:00+00' + g * "
            "interval '1 month', lpad(to_hex(g), 64, '0'), 'pii', '{PII.Name}', 0.5, 'v1', "
            "'flood-' || g, 'westeurope', '\\x01', %s from generate_series(0, %s - 1) as g",
            (TENANT_A, "0" * 32, months),
        )
        cur.execute(
            "insert into mapper.model_metrics (tenant_id, recorded_at, model_version, "
            "detector_type, metric_name, metric_value) "
            "select %s, timestamptz '2000-01-15 00:00:00+00' + g * interval '1 month', 'v1', "
            "'pii', 'f1', 0.5 from generate_series(0, %s - 1) as g",
            (TENANT_A, months),
        )
    return months


def flood_2005(speak: Speaker, rows: int) -> None:
    """As the app, `rows` rows of tenant A dated 2005 (the time window accepts them)."""
    with speak.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            STORAGE_INSERT + "select %s, timestamptz '2005-03-01 00:00:00+00' + g * "
            "interval '1 second', lpad(to_hex(g), 64, '0'), 'pii', '{PII.Name}', 0.5, 'v1', "
            "'old-' || g, 'westeurope', '\\x01', %s from generate_series(1, %s) as g",
            (TENANT_A, "0" * 32, rows),
        )


def maintain(speak: Speaker, *args: int) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        rows = conn.execute(
            "select table_name, partition_name, action from mapper.maintain_partitions("
            + ", ".join(["%s"] * len(args))
            + ")",
            args,
        ).fetchall()
        conn.commit()
    return rows


def visible(speak: Speaker, table: str, tenant_id: Any) -> int:
    with speak.app() as conn, tenant(conn, tenant_id) as cur:
        row = cur.execute(f"select count(*) from mapper.{table}").fetchone()
    assert row is not None
    return int(row[0])


def rows_in(speak: Speaker, relation: str) -> int:
    """Rows physically in one partition (the superuser only inspects)."""
    with speak.superuser() as conn:
        row = conn.execute(f"select count(*) from {relation}").fetchone()
    assert row is not None
    return int(row[0])


def problems(speak: Speaker) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        return conn.execute(
            "select source, target, detail from mapper.maintenance_problems()"
        ).fetchall()


def test_a_flood_of_past_months_lands_in_the_before_partition_not_the_default(
    two_tenants: Speaker,
) -> None:
    maintain(two_tenants)  # the months maintenance keeps have their partitions
    before = set(partition_names(two_tenants))
    months = flood(two_tenants)
    assert months > 300
    done = maintain(two_tenants)  # the nightly job's call: the defaults
    # No partition per month, and none at all: the last 12 months have theirs already, and
    # PostgreSQL routed every older row to <table>_before.
    assert set(partition_names(two_tenants)) == before
    older = months - 12
    for table in FLOODED:
        assert rows_in(two_tenants, f"mapper.{table}_default") == 0
        assert rows_in(two_tenants, f"mapper.{table}_before") == older
    # Counted per table under their own status: no failure, no alert.
    assert not [r for r in done if r[2].startswith("failed")], done
    outside = {r[0]: r[2] for r in done if r[2].startswith("outside")}
    assert set(outside) == {f"mapper.{t}" for t in FLOODED}
    for table in FLOODED:
        assert outside[f"mapper.{table}"].startswith(
            f"outside: {older} rows in mapper.{table}_before"
        )
    with two_tenants.admin() as conn:
        logged = conn.execute(
            "select target, status, detail from mapper.maintenance_log "
            "where status in ('outside', 'failed') order by id"
        ).fetchall()
        last = conn.execute(
            "select status from mapper.maintenance_log where target is null "
            "order by id desc limit 1"
        ).fetchone()
    assert {(r[0], r[1]) for r in logged} == {(f"mapper.{t}", "outside") for t in FLOODED}
    assert all(r[2].startswith(f"{older} rows in ") for r in logged)
    assert last == ("ok",)
    assert problems(two_tenants) == []
    # Every flooded row stays readable by its tenant, and by no other.
    assert visible(two_tenants, "storage_records", TENANT_A) == months + 3
    assert visible(two_tenants, "model_metrics", TENANT_A) == months + 3
    assert visible(two_tenants, "storage_records", TENANT_B) == 3
    assert visible(two_tenants, "model_metrics", TENANT_B) == 3
    # Running again adds nothing.
    maintain(two_tenants)
    maintain(two_tenants, 3, 120)  # an operator's backfill run: the before partition holds them
    assert set(partition_names(two_tenants)) == before


def test_creating_next_months_partition_does_not_scan_the_flooded_rows(
    two_tenants: Speaker,
) -> None:
    flood_2005(two_tenants, 5000)
    with two_tenants.superuser() as conn:
        where = conn.execute(
            "select tableoid::regclass::text, count(*) from mapper.storage_records "
            "where created_at < '2006-01-01' group by 1"
        ).fetchall()
        bound, upper, month = conn.execute(
            "select pg_get_expr(c.relpartbound, c.oid), mapper.partition_upper_bound(c.oid), "
            "(select max(mapper.partition_upper_bound(i.inhrelid)) from pg_inherits as i "
            " where i.inhparent = 'mapper.storage_records'::regclass)::date "
            "from pg_class as c where c.oid = 'mapper.storage_records_before'::regclass"
        ).fetchone()
    assert where == [("mapper.storage_records_before", 5000)]
    assert bound.startswith("FOR VALUES FROM ('2000-01-01 00:00:00+00') TO (")
    assert upper <= datetime.now(UTC)  # a new month never overlaps it: bounds decide, no scan
    # Next month's partition, made as maintenance makes it (the owner, maintenance mode): in
    # the same transaction, the server's own scan counters show which tables it read.
    with two_tenants.admin() as conn:
        conn.execute("set role mapper_owner")
        conn.execute("select set_config('mapper.maintenance', 'on', true)")
        made = conn.execute(
            "select partition_name from mapper.create_month_partition("
            "'mapper.storage_records', %s)",
            (month,),
        ).fetchall()
        scans = conn.execute(
            "select pg_stat_get_xact_numscans('mapper.storage_records_before'::regclass), "
            "pg_stat_get_xact_numscans('mapper.storage_records_default'::regclass)"
        ).fetchone()
        conn.commit()
    assert made == [(f"storage_records_p{month:%Y%m}",)]
    # The default was checked (it is what PostgreSQL scans) and is empty; the 5000 rows were
    # not read.
    assert scans == (0, 1)
    assert rows_in(two_tenants, "mapper.storage_records_default") == 0
    assert visible(two_tenants, "storage_records", TENANT_A) == 5003
    assert visible(two_tenants, "storage_records", TENANT_B) == 3


def test_one_old_row_is_no_failure_and_no_alert(two_tenants: Speaker) -> None:
    maintain(two_tenants)
    flood_2005(two_tenants, 1)
    done = maintain(two_tenants)
    assert [r[2] for r in done if r[0] == "mapper.storage_records"] == [
        f"outside: 1 rows in mapper.storage_records_before (before {window()[0]}), "
        "0 rows in mapper.storage_records_default outside "
        + " to ".join(window())
        + " (readable by their tenant; no failure)"
    ]
    assert not [r for r in done if r[2].startswith("failed")]
    assert problems(two_tenants) == []


def window() -> tuple[str, str]:
    """The months the nightly run keeps: 12 back to 3 ahead (YYYY-MM)."""
    now = datetime.now(UTC)
    first = (now.year * 12 + now.month - 1) - 12
    last = (now.year * 12 + now.month - 1) + 3
    return f"{first // 12:04d}-{first % 12 + 1:02d}", f"{last // 12:04d}-{last % 12 + 1:02d}"


def test_a_dropped_before_partition_is_made_again_with_the_rows_that_waited(
    two_tenants: Speaker,
) -> None:
    # Retention drops the before partition whole once its bound is older than every
    # retention; until the next run, old rows wait in the default partition.
    with two_tenants.superuser() as conn:
        conn.execute("drop table mapper.storage_records_before")
        conn.commit()
    flood_2005(two_tenants, 10)
    assert rows_in(two_tenants, "mapper.storage_records_default") == 10
    done = maintain(two_tenants)
    assert (
        "mapper.storage_records",
        "storage_records_before",
        "created, rows moved from default",
    ) in done
    assert rows_in(two_tenants, "mapper.storage_records_default") == 0
    assert rows_in(two_tenants, "mapper.storage_records_before") == 10
    assert visible(two_tenants, "storage_records", TENANT_A) == 13
    with two_tenants.admin() as conn:
        assert conn.execute("select * from mapper.partition_problems()").fetchall() == []


def test_months_back_is_still_bounded(two_tenants: Speaker) -> None:
    for bad in (121, -1):
        with pytest.raises(psycopg.Error, match="between 0 and 120"):
            maintain(two_tenants, 3, bad)


@pytest.mark.parametrize("who", ["app", "readonly", "auditor", "admin"])
@pytest.mark.parametrize("part", ["before", "default"])
def test_the_before_and_default_partitions_are_no_way_to_the_flooded_rows(
    two_tenants: Speaker, who: str, part: str
) -> None:
    flood(two_tenants)
    maintain(two_tenants)
    with (
        getattr(two_tenants, who)() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute(f"select count(*) from mapper.storage_records_{part}")
    with two_tenants.admin() as conn:
        conn.execute("set role mapper_owner")
        assert conn.execute(f"select count(*) from mapper.storage_records_{part}").fetchone() == (
            0,
        )  # forced RLS: the owner sees nothing outside maintenance mode


def test_maintenance_cannot_be_called_by_a_tenant(two_tenants: Speaker) -> None:
    with (
        two_tenants.app() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute("select * from mapper.maintain_partitions(0, 120)")


def test_upgrading_moves_the_rows_0025_left_in_the_default(
    empty_db: Database, logins: dict[str, str]
) -> None:
    """A database at 0026 whose default partition holds old rows (0025 kept them there): 0030
    moves them into the before partition, readable by their tenant as before."""
    runner = Runner(Connector(empty_db.admin_conninfo), MIGRATIONS)
    runner.up(to=26)
    speak = Speaker(empty_db)
    with speak.app() as conn:
        add_tenant(conn, TENANT_A, "alpha")
    flood_2005(speak, 20)
    assert rows_in(speak, "mapper.storage_records_default") == 20
    runner.up()
    assert rows_in(speak, "mapper.storage_records_default") == 0
    assert rows_in(speak, "mapper.storage_records_before") == 20
    assert visible(speak, "storage_records", TENANT_A) == 20
    with speak.admin() as conn:
        assert conn.execute("select * from mapper.partition_problems()").fetchall() == []
        assert conn.execute("select * from mapper.table_problems()").fetchall() == []
    runner.down(to=26)  # and back: the rows return to the default partition
    assert rows_in(speak, "mapper.storage_records_default") == 20
    assert visible(speak, "storage_records", TENANT_A) == 20


def test_waiting_rows_move_with_their_generated_columns_and_storage(two_tenants: Speaker) -> None:
    """A row of a month kept but not yet partitioned waits in the default, then moves into its
    month: detector_executions' generated duration is computed again (the move failed on it
    before 0030), the audit trail's partition keeps its entries uncompressed."""
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            "insert into mapper.detector_executions (tenant_id, detector_type, status, "
            "started_at, finished_at, correlation_id) values (%s, 'pii', 'succeeded', "
            "date_trunc('month', now()) - interval '3 months', "
            "date_trunc('month', now()) - interval '3 months' + interval '2 seconds', 'late')",
            (TENANT_A,),
        )
    assert rows_in(two_tenants, "mapper.detector_executions_default") == 1
    done = maintain(two_tenants)
    assert not [r for r in done if r[2].startswith("failed")], done
    assert rows_in(two_tenants, "mapper.detector_executions_default") == 0
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        row = cur.execute(
            "select tableoid::regclass::text, duration from mapper.detector_executions "
            "where correlation_id = 'late'"
        ).fetchone()
    assert row is not None
    assert row[0].startswith("mapper.detector_executions_p") and row[1] is not None
    with two_tenants.superuser() as conn:
        storage = conn.execute(
            "select distinct a.attstorage from pg_inherits as i "
            "join pg_attribute as a on a.attrelid = i.inhrelid "
            "where i.inhparent = 'mapper.audit_records'::regclass "
            "and a.attname in ('row_keys', 'old_rows', 'new_rows')"
        ).fetchall()
    assert storage == [("e",)]
