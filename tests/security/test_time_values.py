"""Time values from tenants: no infinity, no far year, no BC, nothing before 2000 or more than a
day ahead, each refusal naming its constraint; maintenance that no bad row or table can stop,
that creates a bounded number of unambiguously named partitions and reports what failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from tests.schema.schema_helpers import TENANT_A, Speaker, add_tenant, tenant
from tests.schema.test_constraints import GOOD, counts, insert

# table -> its time columns (the first is the partition key, where there is one)
TIME_COLUMNS = {
    "storage_records": ("created_at",),
    "detector_executions": ("started_at", "finished_at"),
    "model_metrics": ("recorded_at",),
    "tenant_configs": ("created_at", "updated_at"),
    "tenant_data_keys": ("created_at", "wrapped_at"),
}
IN_TWO_DAYS = (datetime.now(UTC) + timedelta(days=2)).isoformat()
# value -> which check refuses it: the static window (finite, from 2000) or the future trigger
VALUES = [
    ("infinity", "check"),
    ("-infinity", "check"),
    ("4713-01-01 00:00:00+00 BC", "check"),
    ("1999-12-31 23:59:59+00", "check"),
    ("0001-01-01 00:00:00+00", "check"),
    ("4713-01-01 00:00:00+00", "future_check"),
    ("294276-12-31 00:00:00+00", "future_check"),
    (IN_TWO_DAYS, "future_check"),
]
CASES = [
    (table, column, value, f"{table}_{column}_{kind}")
    for table, columns in TIME_COLUMNS.items()
    for column in columns
    for value, kind in VALUES
]


def bad_row(table: str, column: str, value: str) -> dict[str, Any]:
    row = {**GOOD[table], column: value}
    if table == "detector_executions" and column == "started_at":
        row.update(status="running", finished_at=None, error_code=None)
    return row


@pytest.mark.parametrize(
    ("table", "column", "value", "constraint"),
    CASES,
    # Stable ids (pytest-xdist workers must collect the same names): not the computed time.
    ids=[f"{c[3]}-{'in-two-days' if c[2] == IN_TWO_DAYS else c[2]}" for c in CASES],
)
def test_out_of_window_time_is_refused_by_name(
    speak: Speaker, table: str, column: str, value: str, constraint: str
) -> None:
    if table != "tenant_configs":
        with speak.app() as conn:
            add_tenant(conn, TENANT_A, "alpha")
    before = counts(speak)
    with (
        speak.app() as conn,
        pytest.raises(errors.CheckViolation) as caught,
        tenant(conn, TENANT_A) as cur,
    ):
        insert(cur, table, [bad_row(table, column, value)])
    assert caught.value.diag.constraint_name == constraint
    assert constraint in str(caught.value)
    assert counts(speak) == before


@pytest.mark.parametrize(
    ("value", "kind"),
    [("infinity", "check"), (IN_TWO_DAYS, "future_check")],
    ids=["infinity", "in-two-days"],
)
def test_updates_are_held_to_the_window_too(two_tenants: Speaker, value: str, kind: str) -> None:
    with (
        two_tenants.app() as conn,
        pytest.raises(errors.CheckViolation) as caught,
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute("update mapper.storage_records set created_at = %s", (value,))
    assert caught.value.diag.constraint_name == f"storage_records_created_at_{kind}"


def maintain(speak: Speaker, months_ahead: int = 3) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        rows = conn.execute(
            "select table_name, partition_name, action from mapper.maintain_partitions(%s)",
            (months_ahead,),
        ).fetchall()
        conn.commit()
    return rows


def partition_names(speak: Speaker) -> list[str]:
    with speak.superuser() as conn:
        rows = conn.execute(
            "select c.relname from pg_class c where c.relispartition and c.relkind in ('r', 'p') "
            "and c.relnamespace = 'mapper'::regnamespace order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def smuggle(speak: Speaker, table: str, column: str, value: str) -> None:
    """A row the constraints refuse today, as if written before they existed: the superuser
    drops the CHECK, writes the row, and puts the CHECK back NOT VALID."""
    name = f"{table}_{column}_check"
    with speak.superuser() as conn:
        definition = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conname = %s", (name,)
        ).fetchone()
        assert definition is not None
        conn.execute(f"alter table mapper.{table} drop constraint {name}")
        conn.execute(f"alter table mapper.{table} disable trigger {table}_{column}_future")
        conn.execute("select set_config('app.tenant_id', %s, false)", (str(TENANT_A),))
        with conn.cursor() as cur:
            insert(cur, table, [bad_row(table, column, value)])
        conn.execute(f"alter table mapper.{table} enable trigger {table}_{column}_future")
        conn.execute(
            sql.SQL("alter table {} add constraint {} {} not valid").format(
                sql.Identifier("mapper", table), sql.Identifier(name), sql.SQL(definition[0])
            )
        )
        conn.commit()


def test_bad_rows_in_a_default_partition_stop_nothing(two_tenants: Speaker) -> None:
    """An infinite time once made maintain_partitions() fail for every tenant, and a far month
    made a partition: now the row stays in its default partition, reported by name, and the
    other tables (and the table's other months) are maintained."""
    smuggle(two_tenants, "model_metrics", "recorded_at", "infinity")
    smuggle(two_tenants, "storage_records", "created_at", "2150-06-01 00:00:00+00")
    smuggle(two_tenants, "storage_records", "created_at", "1999-06-01 00:00:00+00")
    before = partition_names(two_tenants)
    done = maintain(two_tenants, months_ahead=5)
    # Rows outside the window are counted per table under their own status (0030), no failure.
    assert not [r for r in done if r[2].startswith("failed")], done
    outside = {r[0]: r[2] for r in done if r[2].startswith("outside")}
    assert set(outside) == {"mapper.model_metrics", "mapper.storage_records"}
    assert "1 rows in mapper.model_metrics_default outside" in outside["mapper.model_metrics"]
    assert "2 rows in mapper.storage_records_default outside" in outside["mapper.storage_records"]
    created = sorted(set(partition_names(two_tenants)) - set(before))
    ahead = datetime.now(UTC).replace(day=1) + timedelta(days=5 * 31)
    assert f"storage_records_p{ahead:%Y%m}" in created
    assert not [n for n in created if n[-6:-2] in ("2150", "1999")]  # nothing for 2150 or 1999
    with two_tenants.admin() as conn:
        problems = conn.execute(
            "select source, job, target, detail from mapper.maintenance_problems()"
        ).fetchall()
        logged = conn.execute(
            "select target, status from mapper.maintenance_log where status <> 'ok'"
        ).fetchall()
    assert problems == []
    assert sorted(logged) == [
        ("mapper.model_metrics", "outside"),
        ("mapper.storage_records", "outside"),
    ]


def test_one_broken_table_does_not_stop_the_others(two_tenants: Speaker) -> None:
    """A table in the way of a month partition fails that table's month, by name; the other
    tables still get theirs."""
    next_months = datetime.now(UTC).replace(day=1) + timedelta(days=4 * 31)
    blocker = f"model_metrics_p{next_months:%Y%m}"
    with two_tenants.superuser() as conn:
        conn.execute(f"create table mapper.{blocker} (x int)")
        conn.commit()
    done = maintain(two_tenants, months_ahead=4)
    failed = [r for r in done if r[2].startswith("failed")]
    assert [(r[0], r[1]) for r in failed] == [("mapper.model_metrics", f"mapper.{blocker}")]
    assert "exists but is not a partition" in failed[0][2]
    created = {r[1] for r in done if r[2] == "created"}
    for table in ("audit_records", "detector_executions", "storage_records"):
        assert f"{table}_p{next_months:%Y%m}" in created
    with two_tenants.admin() as conn:
        problems = conn.execute("select target from mapper.maintenance_problems()").fetchall()
        logged = conn.execute(
            "select status from mapper.maintenance_log where target is null "
            "order by id desc limit 1"
        ).fetchall()
    assert problems == [(f"mapper.{blocker}",)]
    assert logged == [("failed",)]


@pytest.mark.parametrize("month", ["4713-01-01 BC", "1999-12-01", "10000-01-01", "infinity"])
def test_no_partition_outside_2000_to_9999(speak: Speaker, month: str) -> None:
    with speak.admin() as conn:
        conn.execute("set role mapper_owner")
        with pytest.raises(psycopg.Error):
            conn.execute(
                "select * from mapper.create_month_partition('mapper.storage_records', %s::date)",
                (month,),
            )


def test_partition_names_are_unambiguous(speak: Speaker) -> None:
    maintain(speak, months_ahead=24)
    names = partition_names(speak)
    assert len(names) >= 4 * 26
    for name in names:
        _, _, suffix = name.rpartition("_")
        assert suffix in ("default", "before") or (suffix[0] == "p" and len(suffix) == 7), name
    with pytest.raises(psycopg.Error, match="between 0 and 24"):
        maintain(speak, months_ahead=25)
