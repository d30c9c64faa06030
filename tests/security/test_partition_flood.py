"""A tenant that writes a row into every month since 2000-01 cannot make maintenance create a
partition per month (migration 0025): months back are bounded like months ahead, the older rows
stay in the default partition, readable by their tenant alone, and each run names them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.schema.schema_helpers import TENANT_A, TENANT_B, Speaker, tenant
from tests.security.test_time_values import partition_names

FLOODED = ("storage_records", "model_metrics")


def months_since_2000() -> int:
    now = datetime.now(UTC)
    return (now.year - 2000) * 12 + now.month - 1  # 2000-01 up to last month


def flood(speak: Speaker) -> int:
    """As the app, one row of tenant A in every month from 2000-01 to last month."""
    months = months_since_2000()
    with speak.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            "insert into mapper.storage_records (tenant_id, created_at, source_data_hash, "
            "detector_type, taxonomy_labels, confidence_score, model_version, correlation_id, "
            "azure_region, payload, payload_key_version) "
            "select %s, timestamptz '2000-01-15 00:00:00+00' + g * interval '1 month', "
            "lpad(to_hex(g), 64, '0'), 'pii', '{PII.Name}', 0.5, 'v1', 'flood-' || g, "
            "'westeurope', '\\x01', %s from generate_series(0, %s - 1) as g",
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


def test_a_flood_of_past_months_makes_a_bounded_number_of_partitions(
    two_tenants: Speaker,
) -> None:
    before = set(partition_names(two_tenants))
    months = flood(two_tenants)
    assert months > 300
    done = maintain(two_tenants)  # the nightly job's call: the defaults
    created = set(partition_names(two_tenants)) - before
    # At most the 12 months back (and none ahead that did not exist) per flooded table.
    for table in FLOODED:
        mine = sorted(n for n in created if n.startswith(f"{table}_p"))
        assert 0 < len(mine) <= 12, mine
    assert len(created) <= 12 * len(FLOODED)
    # The rest waits in the default partition, named with its count, in the log too.
    failed = {r[1]: r[2] for r in done if r[2].startswith("failed")}
    assert set(failed) == {f"mapper.{t}_default" for t in FLOODED}
    for table in FLOODED:
        with two_tenants.superuser() as conn:
            left = conn.execute(f"select count(*) from mapper.{table}_default").fetchone()
        assert left is not None and left[0] >= months - 12
        assert f"failed: {left[0]} rows outside" in failed[f"mapper.{table}_default"]
    with two_tenants.admin() as conn:
        problems = conn.execute(
            "select target, detail from mapper.maintenance_problems()"
        ).fetchall()
    assert {p[0] for p in problems} == {f"mapper.{t}_default" for t in FLOODED}
    # Every flooded row stays readable by its tenant, and by no other.
    assert visible(two_tenants, "storage_records", TENANT_A) == months + 3
    assert visible(two_tenants, "model_metrics", TENANT_A) == months + 3
    assert visible(two_tenants, "storage_records", TENANT_B) == 3
    # Running again adds nothing: the flood does not grow with the number of runs.
    maintain(two_tenants)
    assert set(partition_names(two_tenants)) - before == created


def test_older_months_are_partitioned_only_on_request_and_still_bounded(
    two_tenants: Speaker,
) -> None:
    before = set(partition_names(two_tenants))
    flood(two_tenants)
    maintain(two_tenants, 3, 24)  # an operator's backfill run: two years back
    created = set(partition_names(two_tenants)) - before
    for table in FLOODED:
        assert 12 < len([n for n in created if n.startswith(f"{table}_p")]) <= 24
    for bad in (121, -1):
        with pytest.raises(psycopg.Error, match="between 0 and 120"):
            maintain(two_tenants, 3, bad)


@pytest.mark.parametrize("who", ["app", "readonly", "auditor", "admin"])
def test_the_default_partition_is_no_way_to_the_flooded_rows(
    two_tenants: Speaker, who: str
) -> None:
    flood(two_tenants)
    maintain(two_tenants)
    with (
        getattr(two_tenants, who)() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute("select count(*) from mapper.storage_records_default")
    with two_tenants.admin() as conn:
        conn.execute("set role mapper_owner")
        assert conn.execute("select count(*) from mapper.storage_records_default").fetchone() == (
            0,
        )  # forced RLS: the owner sees nothing outside maintenance mode


def test_maintenance_cannot_be_called_by_a_tenant(two_tenants: Speaker) -> None:
    with (
        two_tenants.app() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute("select * from mapper.maintain_partitions(0, 120)")
