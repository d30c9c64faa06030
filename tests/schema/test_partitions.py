"""Partitions ahead of time, rows outside the range, retention, and pruning of the hot query."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.schema.schema_helpers import (
    STORAGE_COLUMNS,
    TENANT_A,
    TENANT_B,
    Speaker,
    add_tenant,
    storage_row,
    tenant,
)

PARTITIONED = ("audit_records", "detector_executions", "model_metrics", "storage_records")


def month_names(table: str, first: datetime, months: int) -> list[str]:
    names = []
    year, month = first.year, first.month
    for _ in range(months):
        names.append(f"{table}_p{year:04d}{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return names


def partitions_of(speak: Speaker, table: str) -> list[str]:
    with speak.superuser() as conn:
        rows = conn.execute(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = %s::regclass order by 1",
            (f"mapper.{table}",),
        ).fetchall()
    return [r[0] for r in rows]


def test_future_partitions_exist(speak: Speaker) -> None:
    now = datetime.now(UTC)
    for table in PARTITIONED:
        names = partitions_of(speak, table)
        assert f"{table}_default" in names
        assert set(month_names(table, now, 4)) <= set(names), table


def insert_at(cur: Any, tenant_id: Any, when: datetime, n: int) -> None:
    cur.execute(
        f"insert into mapper.storage_records ({STORAGE_COLUMNS}) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        storage_row(tenant_id, n, when.isoformat()),
    )


def default_rows(speak: Speaker, table: str = "storage_records") -> int:
    with speak.superuser() as conn:
        row = conn.execute(f"select count(*) from mapper.{table}_default").fetchone()
    assert row is not None
    return int(row[0])


def maintain(speak: Speaker, months_back: int = 12) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        rows = conn.execute(
            "select table_name, partition_name, action, moved_rows "
            "from mapper.maintain_partitions(p_months_back => %s)",
            (months_back,),
        ).fetchall()
        conn.commit()
    return rows


def months_ago(months: int, day: int) -> datetime:
    now = datetime.now(UTC)
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    return datetime(year, month + 1, day, tzinfo=UTC)


def test_rows_outside_the_range_wait_in_default_then_move(two_tenants: Speaker) -> None:
    # Months without a partition, within the months maintenance partitions (12 back by default).
    long_ago = months_ago(8, 10)
    far_ahead = months_ago(11, 5)  # the window admits no far future
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        insert_at(cur, TENANT_A, long_ago, 100)
        insert_at(cur, TENANT_A, far_ahead, 101)
    assert default_rows(two_tenants) == 2
    with two_tenants.auditor() as conn, tenant(conn, TENANT_A) as cur:
        links_before = cur.execute("select count(*) from mapper.audit_records").fetchone()
    done = maintain(two_tenants)
    moved = {(r[1], r[3]) for r in done if r[0] == "mapper.storage_records" and r[3]}
    assert moved == {
        (f"storage_records_p{long_ago:%Y%m}", 1),
        (f"storage_records_p{far_ahead:%Y%m}", 1),
    }
    assert default_rows(two_tenants) == 0
    assert f"storage_records_p{long_ago:%Y%m}" in partitions_of(two_tenants, "storage_records")
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        assert cur.execute(
            "select count(*) from mapper.storage_records where created_at = %s", (long_ago,)
        ).fetchone() == (1,)
        plan = cur.execute(
            "explain select id from mapper.storage_records where created_at = %s", (long_ago,)
        ).fetchall()
        assert f"storage_records_p{long_ago:%Y%m}" in str(plan)
    with two_tenants.auditor() as conn, tenant(conn, TENANT_A) as cur:
        # Moving rows between partitions is not a change of data: no new links, chain intact.
        assert cur.execute("select count(*) from mapper.audit_records").fetchone() == links_before
        assert cur.execute("select count(*) from mapper.verify_audit_chain()").fetchone() == (0,)
    assert maintain(two_tenants) == []  # idempotent


def purge(speak: Speaker) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        rows = conn.execute(
            "select table_name, tenant_id, method, rows_removed "
            "from mapper.purge_expired(p_batch_size => 2)"
        ).fetchall()
        conn.commit()
    return rows


def storage_dates(speak: Speaker, tenant_id: Any) -> list[datetime]:
    with speak.app() as conn, tenant(conn, tenant_id) as cur:
        rows = cur.execute(
            "select created_at from mapper.storage_records order by created_at"
        ).fetchall()
    return [r[0] for r in rows]


def test_retention_removes_only_expired_data_and_audits_it(speak: Speaker) -> None:
    now = datetime.now(UTC)
    ancient = datetime(2023, 5, 15, tzinfo=UTC)  # older than every tenant's retention
    with speak.app() as conn:
        add_tenant(conn, TENANT_A, "alpha", retention_days=30)
        add_tenant(conn, TENANT_B, "bravo", retention_days=300)
        for tid in (TENANT_A, TENANT_B):
            with tenant(conn, tid) as cur:
                insert_at(cur, tid, ancient, 1)
                for n in range(5):
                    insert_at(cur, tid, now - timedelta(days=60, minutes=n), 10 + n)
                insert_at(cur, tid, now - timedelta(days=1), 20)
    # Older than the 12 months maintenance keeps: in the before partition (0030), which ends
    # 12 months back, older than every tenant's retention, even with a backfill run.
    maintain(speak, months_back=120)
    assert "storage_records_before" in partitions_of(speak, "storage_records")

    removed = purge(speak)

    assert ("mapper.storage_records", TENANT_A, "delete", 5) in removed
    assert (
        "mapper.storage_records",
        TENANT_A,
        "drop partition mapper.storage_records_before",
        1,
    ) in removed
    assert (
        "mapper.storage_records",
        TENANT_B,
        "drop partition mapper.storage_records_before",
        1,
    ) in removed
    assert not [r for r in removed if r[1] == TENANT_B and r[2] == "delete"]
    assert "storage_records_before" not in partitions_of(speak, "storage_records")
    assert len(storage_dates(speak, TENANT_A)) == 1  # only yesterday's row
    assert len(storage_dates(speak, TENANT_B)) == 6  # 300 days keeps the 60-day-old rows
    for tid in (TENANT_A, TENANT_B):
        with speak.auditor() as conn, tenant(conn, tid) as cur:
            purges = cur.execute(
                "select action, new_rows -> 0 from mapper.audit_records "
                "where action like 'retention%%' order by chain_seq"
            ).fetchall()
            assert cur.execute("select count(*) from mapper.verify_audit_chain()").fetchone() == (
                0,
            )
        actions = [p[0] for p in purges]
        assert actions.count("retention_drop") == 1
        assert actions.count("retention_delete") == (1 if tid == TENANT_A else 0)
        assert all(p[1]["rows"] >= 1 for p in purges)
    assert purge(speak) == []  # nothing left to remove


def test_latest_records_query_prunes_partitions_and_uses_an_index(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        # Five months of history, one row an hour: older months land in the default partition
        # until maintenance gives them their own month partitions.
        cur.execute(
            f"insert into mapper.storage_records ({STORAGE_COLUMNS}) "
            "select %s, now() - g * interval '1 hour', lpad(to_hex(g), 64, '0'), 'pii', "
            "'{PII.Contact.Email}', 0.5, 'v1', 'c' || g, 'westeurope', '\\x01', %s "
            "from generate_series(1, 3600) as g",
            (TENANT_A, "0" * 32),
        )
    # Six months back: each has its partition (0030 gives every month kept one, rows or not).
    maintain(two_tenants, months_back=6)
    with two_tenants.admin() as conn:
        conn.execute("analyze mapper.storage_records")
        conn.commit()
    names = partitions_of(two_tenants, "storage_records")
    now = datetime.now(UTC)
    old = [n for n in names if n[-6:].isdigit() and n[-6:] < f"{now - timedelta(days=40):%Y%m}"]
    assert len(old) >= 3
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        row = cur.execute(
            "explain (analyze, format json) "
            "select id, created_at, detector_type, taxonomy_labels, confidence_score "
            "from mapper.storage_records "
            "where tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid) "
            "and created_at >= now() - interval '7 days' "
            "order by created_at desc limit 50"
        ).fetchone()
    assert row is not None
    text = json.dumps(row[0])
    assert '"Subplans Removed"' in text
    assert not [n for n in old if f'"{n}"' in text]  # older months pruned
    assert f'"storage_records_p{now:%Y%m}"' in text
    assert '"Index Scan' in text or '"Index Only Scan' in text
    assert '"Seq Scan"' not in text, json.dumps(row[0], indent=1)
    assert '"Sort"' not in text  # the index order serves "latest first"
