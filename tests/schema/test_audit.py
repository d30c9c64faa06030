"""The audit trail: every change is a link of the tenant's hash chain; tampering is found."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.schema.schema_helpers import (
    KEY_VERSION,
    STORAGE_COLUMNS,
    TENANT_A,
    TENANT_B,
    Speaker,
    add_tenant,
    tenant,
)

BIG_ROWS = json.dumps(["a"] * 1001)


def trail(speak: Speaker, tenant_id: Any) -> list[tuple[Any, ...]]:
    """The tenant's links: chain_seq, action, table, db user, actor, entries, keys, old, new."""
    with speak.auditor() as conn, tenant(conn, tenant_id) as cur:
        return cur.execute(
            "select chain_seq, action, table_name, db_user, actor, entries, row_keys, old_rows, "
            "new_rows from mapper.audit_records order by chain_seq"
        ).fetchall()


def verify(speak: Speaker, tenant_id: Any) -> list[tuple[Any, ...]]:
    with speak.auditor() as conn, tenant(conn, tenant_id) as cur:
        return cur.execute("select chain_seq, problem from mapper.verify_audit_chain()").fetchall()


def test_every_change_is_audited(two_tenants: Speaker) -> None:
    before = len(trail(two_tenants, TENANT_A))
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("select set_config('app.actor', 'alice@example.com', true)")
        cur.execute("update mapper.storage_records set backup_status = 'backed_up' where true")
        cur.execute(
            "select mapper.delete_rows('model_metrics', "
            "array(select id from mapper.model_metrics where metric_value > 0))"
        )
        cur.execute("update mapper.tenant_configs set retention_days = 30 where true")
        cur.execute(
            "update mapper.detector_executions set status = 'cancelled' where status = 'succeeded'"
        )
    links = trail(two_tenants, TENANT_A)
    rows: dict[tuple[str, str], int] = {}
    for _, action, table, _, _, entries, keys, old, new in links:
        rows[(table, action)] = rows.get((table, action), 0) + entries
        for side in (old, new):
            assert side is None or len(side) == entries
        assert all(len(values) == entries for values in keys.values())
    assert rows == {
        ("tenant_configs", "insert"): 1,
        ("storage_records", "insert"): 3,
        ("detector_executions", "insert"): 3,
        ("model_metrics", "insert"): 3,
        ("storage_records", "update"): 3,
        ("model_metrics", "delete"): 3,
        ("tenant_configs", "update"): 1,
        ("detector_executions", "update"): 2,
    }
    # One link per statement: the fixture's ten single-row inserts, then alice's four statements.
    assert len(links) == before + 4 == 14
    assert [link[0] for link in links] == list(range(1, len(links) + 1))
    assert {link[3] for link in links} == {"app_user"}
    assert [(link[2], link[4], link[5]) for link in links[before:]] == [
        ("storage_records", "alice@example.com", 3),
        ("model_metrics", "alice@example.com", 3),
        ("tenant_configs", "alice@example.com", 1),
        ("detector_executions", "alice@example.com", 2),
    ]
    update = next(link for link in links if link[1:3] == ("update", "tenant_configs"))
    assert update[6] == {"tenant_id": [str(TENANT_A)]}
    assert (update[7][0]["retention_days"], update[8][0]["retention_days"]) == (90, 30)
    for link in links:
        for side in (link[7], link[8]):
            for element in side or []:
                assert "payload" not in element
    assert verify(two_tenants, TENANT_A) == []
    assert verify(two_tenants, TENANT_B) == []
    assert all(link[1] == "insert" for link in trail(two_tenants, TENANT_B))


def test_data_tables_are_audited_by_digest(two_tenants: Speaker) -> None:
    """The trail of a data table keeps the sha256 of each row version's text form (in the
    settings the trigger pins), which anyone can recompute from the row, under the row's key."""
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("update mapper.storage_records set backup_status = 'failed' where true")
        for setting in (
            "datestyle = 'ISO, YMD'",
            "intervalstyle = 'postgres'",
            "timezone = 'UTC'",
            "extra_float_digits = 1",
            "bytea_output = 'hex'",
        ):
            cur.execute(f"set local {setting}")
        rows = cur.execute(
            "select to_jsonb(created_at), id, encode(sha256(convert_to(s::text, 'UTF8')), 'hex') "
            "from mapper.storage_records as s"
        ).fetchall()
    links = [
        link for link in trail(two_tenants, TENANT_A) if link[1:3] == ("update", "storage_records")
    ]
    assert len(links) == 1
    _, _, _, _, _, entries, keys, old, new = links[0]
    assert entries == len(rows) == 3
    assert set(keys) == {"created_at", "id"}
    audited = {
        (at, row_id): (before, after)
        for at, row_id, before, after in zip(keys["created_at"], keys["id"], old, new, strict=True)
    }
    for at, row_id, digest in rows:
        before, after = audited[(at, str(row_id))]
        assert after == digest
        assert before != digest and len(before) == 64


def test_a_big_statement_is_split_into_links_of_at_most_1000_rows(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            f"insert into mapper.storage_records ({STORAGE_COLUMNS}) "
            "select %s, now(), lpad(to_hex(g), 64, '0'), 'pii', '{PII.Contact.Email}', 0.5, "
            "'v1', 'bulk-' || g, 'westeurope', '\\x00', %s from generate_series(1, 2500) as g",
            (TENANT_A, KEY_VERSION),
        )
    links = [link for link in trail(two_tenants, TENANT_A) if link[4] is None and link[5] > 1]
    assert sum(link[5] for link in links) == 2500
    assert max(link[5] for link in links) <= 1000
    assert len({i for link in links for i in link[6]["id"]}) == 2500
    assert verify(two_tenants, TENANT_A) == []


def tamper(speak: Speaker, statement: str) -> None:
    with speak.superuser() as conn:
        conn.execute("set session_replication_role = replica")  # past the append-only trigger
        conn.execute(statement, (TENANT_A,))
        conn.commit()


@pytest.mark.parametrize(
    ("statement", "broken_at", "problem"),
    [
        (
            "update mapper.audit_records set new_rows = jsonb_set(new_rows, '{0}', "
            "to_jsonb(repeat('0', 64))) where tenant_id = %s and chain_seq = 9",
            9,
            "altered row",
        ),
        (
            "update mapper.audit_records set db_user = 'someone_else' "
            "where tenant_id = %s and chain_seq = 2",
            2,
            "altered row",
        ),
        ("delete from mapper.audit_records where tenant_id = %s and chain_seq = 4", 4, "missing"),
        ("delete from mapper.audit_records where tenant_id = %s and chain_seq = 10", 10, "removed"),
        (
            "update mapper.audit_records set row_hash = sha256(row_hash) "
            "where tenant_id = %s and chain_seq = 5",
            5,
            "altered row",
        ),
    ],
)
def test_tampering_is_reported_at_the_first_broken_link(
    two_tenants: Speaker, statement: str, broken_at: int, problem: str
) -> None:
    assert len(trail(two_tenants, TENANT_A)) == 10
    tamper(two_tenants, statement)
    found = verify(two_tenants, TENANT_A)
    assert len(found) == 1
    assert found[0][0] == broken_at
    assert problem in found[0][1]
    assert verify(two_tenants, TENANT_B) == []


@pytest.mark.parametrize("user", ["app", "readonly", "auditor"])
@pytest.mark.parametrize(
    "statement",
    [
        "update mapper.audit_records set actor = 'x'",
        "delete from mapper.audit_records",
        "truncate mapper.audit_records",
        "insert into mapper.audit_records (tenant_id, chain_seq, action, table_name, entries,"
        " row_keys, new_rows, prev_hash, row_hash) values ('aaaaaaaa-0000-4000-8000-00000000000a',"
        " 99, 'insert', 'x', 1, '{\"id\": [1]}', '[\"x\"]', sha256(''), sha256(''))",
        "update mapper.audit_chain_heads set last_seq = 0",
        "delete from mapper.audit_records_default",
    ],
)
def test_application_roles_cannot_change_the_trail(
    two_tenants: Speaker, user: str, statement: str
) -> None:
    with (
        getattr(two_tenants, user)() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute(statement)
    assert verify(two_tenants, TENANT_A) == []
    assert len(trail(two_tenants, TENANT_A)) == 10


def test_even_the_owner_cannot_rewrite_the_trail(two_tenants: Speaker) -> None:
    with two_tenants.admin() as conn:
        for statement in (
            "update mapper.audit_records set actor = 'x'",
            "delete from mapper.audit_records",
            "truncate mapper.audit_records",
        ):
            with pytest.raises(psycopg.Error, match="append-only"), tenant(conn, TENANT_A) as cur:
                cur.execute("set local role mapper_owner")
                cur.execute(statement)


def test_concurrent_writers_keep_one_chain(two_tenants: Speaker) -> None:
    """Two sessions writing for the same tenant interleave into one gapless chain."""
    with two_tenants.app() as first, two_tenants.app() as second:
        for conn in (first, second):
            conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
        first.execute("update mapper.model_metrics set metric_value = 1 where true")
        second.execute("select 1")  # second's update would wait on the chain head: commit first
        first.commit()
        second.execute("update mapper.model_metrics set metric_value = 2 where true")
        second.commit()
    links = trail(two_tenants, TENANT_A)
    assert [link[0] for link in links] == list(range(1, 13))
    assert [link[5] for link in links[-2:]] == [3, 3]
    assert verify(two_tenants, TENANT_A) == []


def test_a_rows_history_is_found_by_its_key(two_tenants: Speaker) -> None:
    """The query docs/schema.md gives: a row's links by its id, its entry by position."""
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        row = cur.execute("select id from mapper.storage_records order by id limit 1").fetchone()
        assert row is not None
        row_id = row[0]
        for status in ("failed", "backed_up"):
            cur.execute(
                "update mapper.storage_records set backup_status = %s where id = %s",
                (status, row_id),
            )
    with two_tenants.auditor() as conn, tenant(conn, TENANT_A) as cur:
        history = cur.execute(
            "select a.action, a.old_rows -> (k.n - 1)::int, a.new_rows -> (k.n - 1)::int "
            "from mapper.audit_records as a "
            "cross join lateral jsonb_array_elements(a.row_keys -> 'id') "
            "    with ordinality as k (id, n) "
            "where a.table_name = 'storage_records' and a.row_keys -> 'id' @> to_jsonb(%s::uuid)"
            "    and k.id = to_jsonb(%s::uuid) "
            "order by a.chain_seq",
            (row_id, row_id),
        ).fetchall()
    assert [h[0] for h in history] == ["insert", "update", "update"]
    assert history[0][1] is None
    assert history[1][1] == history[0][2]  # each version's digest is the next change's "before"
    assert history[2][1] == history[1][2]
    assert len({h[2] for h in history}) == 3


def test_every_audit_partition_stores_entries_uncompressed(two_tenants: Speaker) -> None:
    with two_tenants.superuser() as conn:
        storage = conn.execute(
            "select distinct a.attstorage from pg_inherits as i "
            "join pg_attribute as a on a.attrelid = i.inhrelid "
            "where i.inhparent = 'mapper.audit_records'::regclass "
            "and a.attname in ('row_keys', 'old_rows', 'new_rows')"
        ).fetchall()
    assert storage == [("e",)]


@pytest.mark.parametrize(
    ("link", "constraint"),
    [
        ((2, '{"id": [1, 2]}', None, '["a"]'), "audit_records_new_rows_check"),
        ((1, '{"id": [1]}', '{"id": 1}', '["a"]'), "audit_records_old_rows_check"),
        ((1, '{"id": [1]}', None, None), "audit_records_rows_check"),
        ((1, "[1]", None, '["a"]'), "audit_records_row_keys_check"),
        ((1, "{}", None, '["a"]'), "audit_records_row_keys_check"),
        ((0, '{"id": []}', None, "[]"), "audit_records_entries_check"),
        ((1001, '{"id": []}', None, BIG_ROWS), "audit_records_entries_check"),
        ((1, '{"id": [1]}', "null", '["a"]'), "audit_records_old_rows_check"),
        ((1, '{"id": [1]}', None, "null"), "audit_records_new_rows_check"),
    ],
)
def test_a_malformed_link_is_refused_even_from_the_superuser(
    two_tenants: Speaker, link: tuple[int, str, str | None, str | None], constraint: str
) -> None:
    """A link is (entries, row_keys, old_rows, new_rows), refused by the constraint named."""
    with two_tenants.superuser() as conn, pytest.raises(errors.CheckViolation) as caught:
        conn.execute(
            "insert into mapper.audit_records (tenant_id, chain_seq, action, table_name, entries,"
            " row_keys, old_rows, new_rows, prev_hash, row_hash) values (%s, 99, 'update', "
            "'storage_records', %s, %s, %s, %s, sha256(''), sha256(''))",
            (TENANT_A, *link),
        )
    assert caught.value.diag.constraint_name == constraint


def test_a_changed_key_is_two_entries_one_side_each(two_tenants: Speaker) -> None:
    """Moving a record in time changes its key: the link shows the old version under the old key
    and the new version under the new key, each with the other side null."""
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        row = cur.execute("select id from mapper.storage_records order by id limit 1").fetchone()
        assert row is not None
        cur.execute(
            "update mapper.storage_records set created_at = created_at - interval '1 hour' "
            "where id = %s",
            (row[0],),
        )
    link = trail(two_tenants, TENANT_A)[-1]
    _, action, table, _, _, entries, keys, old, new = link
    assert (action, table, entries) == ("update", "storage_records", 2)
    assert keys["id"] == [str(row[0])] * 2
    assert keys["created_at"][0] != keys["created_at"][1]
    assert sorted((o is None, n is None) for o, n in zip(old, new, strict=True)) == [
        (False, True),
        (True, False),
    ]
    assert verify(two_tenants, TENANT_A) == []


def test_a_big_key_changing_update_still_makes_links_of_at_most_1000(two_tenants: Speaker) -> None:
    """Moving 1200 records in time is 2400 entries (old key, new key): links split by position,
    not by id, so the two entries of one id never overflow a link."""
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            f"insert into mapper.storage_records ({STORAGE_COLUMNS}) "
            "select %s, now(), lpad(to_hex(g), 64, '0'), 'pii', '{PII.Contact.Email}', 0.5, "
            "'v1', 'move-' || g, 'westeurope', '\\x00', %s from generate_series(1, 1200) as g",
            (TENANT_A, KEY_VERSION),
        )
        cur.execute(
            "update mapper.storage_records set created_at = created_at - interval '1 second' "
            "where correlation_id like 'move-%%'"
        )
    links = [link for link in trail(two_tenants, TENANT_A) if link[1] == "update"]
    assert sum(link[5] for link in links) == 2400
    assert max(link[5] for link in links) <= 1000
    assert verify(two_tenants, TENANT_A) == []


SAME_ID = "01900000-0000-7000-8000-000000000042"


def test_rows_sharing_an_id_do_not_overflow_a_link(two_tenants: Speaker) -> None:
    """Explicit ids may repeat across times: 1001 rows, one id."""
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute(
            f"insert into mapper.storage_records (id, {STORAGE_COLUMNS}) "
            "select %s::uuid, %s, now() - g * interval '1 second', lpad(to_hex(g), 64, '0'), "
            "'pii', "
            "'{PII.Contact.Email}', 0.5, 'v1', 'same-' || g, 'westeurope', '\\x00', %s "
            "from generate_series(1, 1001) as g",
            (SAME_ID, TENANT_A, KEY_VERSION),
        )
    links = [
        link
        for link in trail(two_tenants, TENANT_A)
        if link[1:3] == ("insert", "storage_records") and set(link[6]["id"]) == {SAME_ID}
    ]
    assert sorted(link[5] for link in links) == [1, 1000]
    assert verify(two_tenants, TENANT_A) == []


def test_entries_altered_behind_dropped_checks_is_reported(two_tenants: Speaker) -> None:
    """entries is outside the hash: verify_audit_chain() ties it to the arrays itself."""
    with two_tenants.superuser() as conn:
        conn.execute(
            "alter table mapper.audit_records drop constraint audit_records_new_rows_check, "
            "drop constraint audit_records_old_rows_check"
        )
        conn.commit()
    tamper(
        two_tenants,
        "update mapper.audit_records set entries = 2 where tenant_id = %s and chain_seq = 3",
    )
    found = verify(two_tenants, TENANT_A)
    assert len(found) == 1
    assert found[0][0] == 3
    assert "entries does not match" in found[0][1]


def test_audit_activity_counts_rows_not_links(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("select set_config('app.actor', 'bob@example.com', true)")
        cur.execute("update mapper.storage_records set backup_status = 'failed' where true")
    with two_tenants.auditor() as conn, tenant(conn, TENANT_A) as cur:
        rows = cur.execute(
            "select actor, action, table_name, events from mapper.audit_activity("
            "now() - interval '1 day', now() + interval '1 day') where actor = 'bob@example.com'"
        ).fetchall()
    assert rows == [("bob@example.com", "update", "storage_records", 3)]  # one link, 3 rows


def test_the_trigger_template_runs_only_as_the_owner(speak: Speaker) -> None:
    """A SECURITY DEFINER function made by anyone else would run with their rights."""
    with speak.superuser() as conn, pytest.raises(psycopg.Error, match="must run as mapper_owner"):
        conn.execute("select mapper.create_digest_audit('storage_records', 'created_at')")


def test_a_deleted_tenant_config_keeps_its_last_version_in_the_trail(speak: Speaker) -> None:
    """Full mode: insert, update and delete of tenant_configs each leave the whole row."""
    gone = uuid.UUID("cccccccc-0000-4000-8000-00000000000c")
    with speak.app() as conn:
        add_tenant(conn, gone, "charlie")
        with tenant(conn, gone) as cur:
            cur.execute("update mapper.tenant_configs set name = 'charlie 2' where true")
            cur.execute("select mapper.delete_tenant()")
    links = trail(speak, gone)
    assert [(link[1], link[5]) for link in links] == [("insert", 1), ("update", 1), ("delete", 1)]
    insert, update, delete = links
    assert insert[7] is None and insert[8][0]["name"] == "charlie"
    assert (update[7][0]["name"], update[8][0]["name"]) == ("charlie", "charlie 2")
    assert delete[7][0]["name"] == "charlie 2" and delete[8] is None
    assert {str(link[6]["tenant_id"][0]) for link in links} == {str(gone)}
    assert verify(speak, gone) == []
