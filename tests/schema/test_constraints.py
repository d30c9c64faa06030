"""Bad input at the database edge: one violating row per constraint. The error names the
constraint and nothing of the statement is written."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from tests.schema.schema_helpers import KEY_VERSION, TENANT_A, Speaker, add_tenant, tenant

GOOD: dict[str, dict[str, Any]] = {
    "tenant_configs": {
        "tenant_id": TENANT_A,
        "name": "alpha",
        "status": "active",
        "retention_days": 90,
        "key_vault_key_uri": "https://kv-alpha.vault.azure.net/keys/tenant-key",
        "allowed_detector_types": ["pii"],
    },
    "storage_records": {
        "tenant_id": TENANT_A,
        "source_data_hash": "ab" * 32,
        "detector_type": "pii",
        "taxonomy_labels": ["PII.Contact.Email", "PII.Name"],
        "confidence_score": 0.75,
        "model_version": "v1.2.3",
        "correlation_id": "req-42",
        "azure_region": "westeurope",
        "backup_status": "pending",
        "payload": b"\x00ciphertext",
        "payload_key_version": KEY_VERSION,
        "metadata": psycopg.types.json.Jsonb({"source": "api"}),
    },
    "detector_executions": {
        "tenant_id": TENANT_A,
        "detector_type": "pii",
        "status": "failed",
        "finished_at": "now",
        "error_code": "MODEL_TIMEOUT",
        "correlation_id": "req-42",
    },
    "model_metrics": {
        "tenant_id": TENANT_A,
        "model_version": "v1.2.3",
        "detector_type": "pii",
        "metric_name": "f1",
        "metric_value": 0.93,
        "labels": psycopg.types.json.Jsonb({"dataset": "eval"}),
    },
    "tenant_data_keys": {
        "tenant_id": TENANT_A,
        "key_version": "0" * 32,
        "seq": 1,
        "state": "active",
        "wrapped_key": b"w" * 256,
        "wrap_algorithm": "RSA-OAEP-256",
        "kek_key_id": "https://kv-alpha.vault.azure.net/keys/tenant-kek/" + "ab" * 16,
    },
}

Jsonb = psycopg.types.json.Jsonb
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("tenant_configs", {"name": ""}, "tenant_configs_name_check"),
    ("tenant_configs", {"name": "x" * 201}, "tenant_configs_name_check"),
    ("tenant_configs", {"status": "deleted"}, "tenant_configs_status_check"),
    ("tenant_configs", {"retention_days": 0}, "tenant_configs_retention_days_check"),
    ("tenant_configs", {"retention_days": 3651}, "tenant_configs_retention_days_check"),
    (
        "tenant_configs",
        {"key_vault_key_uri": "http://evil.example/keys/k"},
        "tenant_configs_key_vault_key_uri_check",
    ),
    (
        "tenant_configs",
        {"allowed_detector_types": ["PII!"]},
        "tenant_configs_allowed_detector_types_check",
    ),
    (
        "tenant_configs",
        {"allowed_detector_types": ["pii", None]},
        "tenant_configs_allowed_detector_types_check",
    ),
    (
        "tenant_configs",
        {"created_at": "2025-01-02", "updated_at": "2025-01-01"},
        "tenant_configs_updated_at_check",
    ),
    ("storage_records", {"source_data_hash": "AB" * 32}, "storage_records_source_data_hash_check"),
    (
        "storage_records",
        {"source_data_hash": "raw user input"},
        "storage_records_source_data_hash_check",
    ),
    ("storage_records", {"detector_type": "Pii"}, "storage_records_detector_type_check"),
    ("storage_records", {"taxonomy_labels": []}, "storage_records_taxonomy_labels_check"),
    (
        "storage_records",
        {"taxonomy_labels": ["ok", "no spaces"]},
        "storage_records_taxonomy_labels_check",
    ),
    ("storage_records", {"taxonomy_labels": ["L"] * 33}, "storage_records_taxonomy_labels_check"),
    ("storage_records", {"confidence_score": 1.01}, "storage_records_confidence_score_check"),
    ("storage_records", {"confidence_score": -0.01}, "storage_records_confidence_score_check"),
    (
        "storage_records",
        {"confidence_score": float("nan")},
        "storage_records_confidence_score_check",
    ),
    ("storage_records", {"model_version": ""}, "storage_records_model_version_check"),
    ("storage_records", {"correlation_id": "a b"}, "storage_records_correlation_id_check"),
    ("storage_records", {"azure_region": "West Europe"}, "storage_records_azure_region_check"),
    ("storage_records", {"backup_status": "lost"}, "storage_records_backup_status_check"),
    ("storage_records", {"payload": b""}, "storage_records_payload_check"),
    ("storage_records", {"payload": b"x" * 1048577}, "storage_records_payload_check"),
    ("storage_records", {"payload_key_version": "v1"}, "storage_records_payload_key_version_check"),
    ("storage_records", {"metadata": Jsonb([1, 2])}, "storage_records_metadata_check"),
    ("storage_records", {"metadata": Jsonb({"k": "v" * 9000})}, "storage_records_metadata_check"),
    ("detector_executions", {"detector_type": "a-b"}, "detector_executions_detector_type_check"),
    (
        "detector_executions",
        {"status": "exploded", "error_code": None},
        "detector_executions_status_check",
    ),
    (
        "detector_executions",
        {"status": "running", "error_code": None},
        "detector_executions_finished_check",
    ),
    ("detector_executions", {"finished_at": "2001-01-01"}, "detector_executions_finished_check"),
    ("detector_executions", {"status": "succeeded"}, "detector_executions_error_code_check"),
    ("detector_executions", {"error_code": "lowercase"}, "detector_executions_error_code_check"),
    ("detector_executions", {"error_code": None}, "detector_executions_error_code_check"),
    ("detector_executions", {"correlation_id": ""}, "detector_executions_correlation_id_check"),
    ("model_metrics", {"model_version": "-v"}, "model_metrics_model_version_check"),
    ("model_metrics", {"detector_type": "9lives"}, "model_metrics_detector_type_check"),
    ("model_metrics", {"metric_name": "F1"}, "model_metrics_metric_name_check"),
    ("model_metrics", {"metric_value": float("inf")}, "model_metrics_metric_value_check"),
    ("model_metrics", {"metric_value": float("nan")}, "model_metrics_metric_value_check"),
    ("model_metrics", {"labels": Jsonb("flat")}, "model_metrics_labels_check"),
    ("model_metrics", {"labels": Jsonb({"k": "v" * 3000})}, "model_metrics_labels_check"),
    # The time window (tests/security/test_time_values.py tries every hostile value).
    ("tenant_configs", {"created_at": "infinity"}, "tenant_configs_created_at_check"),
    ("tenant_configs", {"created_at": "2999-01-01"}, "tenant_configs_created_at_future_check"),
    ("tenant_configs", {"updated_at": "2999-01-01"}, "tenant_configs_updated_at_future_check"),
    ("storage_records", {"created_at": "-infinity"}, "storage_records_created_at_check"),
    ("storage_records", {"created_at": "2999-01-01"}, "storage_records_created_at_future_check"),
    ("detector_executions", {"started_at": "1999-12-31"}, "detector_executions_started_at_check"),
    (
        "detector_executions",
        {"started_at": "2999-01-01", "finished_at": "2999-01-02"},
        "detector_executions_finished_at_future_check",
    ),
    (
        "detector_executions",
        {"started_at": "2999-01-01", "status": "running", "finished_at": None, "error_code": None},
        "detector_executions_started_at_future_check",
    ),
    ("detector_executions", {"finished_at": "infinity"}, "detector_executions_finished_at_check"),
    ("model_metrics", {"recorded_at": "4713-01-01 BC"}, "model_metrics_recorded_at_check"),
    ("model_metrics", {"recorded_at": "2999-01-01"}, "model_metrics_recorded_at_future_check"),
    # tenant_data_keys (0018, its time window 0024; tests/client/test_data_keys.py as the client).
    ("tenant_data_keys", {"key_version": "ABC"}, "tenant_data_keys_key_version_check"),
    ("tenant_data_keys", {"seq": 0}, "tenant_data_keys_seq_check"),
    ("tenant_data_keys", {"state": "deleted"}, "tenant_data_keys_state_check"),
    ("tenant_data_keys", {"wrapped_key": b"short"}, "tenant_data_keys_wrapped_key_check"),
    ("tenant_data_keys", {"wrap_algorithm": "RSA1_5"}, "tenant_data_keys_wrap_algorithm_check"),
    (
        "tenant_data_keys",
        {"kek_key_id": "https://evil.example.com/keys/k/00"},
        "tenant_data_keys_kek_key_id_check",
    ),
    (
        "tenant_data_keys",
        {"created_at": "2026-01-02", "wrapped_at": "2026-01-01"},
        "tenant_data_keys_wrapped_at_check",
    ),
    ("tenant_data_keys", {"created_at": "infinity"}, "tenant_data_keys_created_at_check"),
    ("tenant_data_keys", {"wrapped_at": "-infinity"}, "tenant_data_keys_wrapped_at_check"),
    ("tenant_data_keys", {"created_at": "2999-01-01"}, "tenant_data_keys_created_at_future_check"),
    ("tenant_data_keys", {"wrapped_at": "2999-01-01"}, "tenant_data_keys_wrapped_at_future_check"),
]


def insert(cur: psycopg.Cursor[Any], table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    query = sql.SQL("insert into mapper.{} ({}) values {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
            for _ in rows
        ),
    )
    cur.execute(query, [row[c] for row in rows for c in columns])


def counts(speak: Speaker) -> tuple[int, ...]:
    with speak.superuser() as conn:
        row = conn.execute(
            "select (select count(*) from mapper.tenant_configs), "
            "(select count(*) from mapper.storage_records), "
            "(select count(*) from mapper.detector_executions), "
            "(select count(*) from mapper.model_metrics), "
            "(select count(*) from mapper.tenant_data_keys), "
            "(select count(*) from mapper.audit_records)"
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_the_good_rows_are_accepted(speak: Speaker) -> None:
    with speak.app() as conn, tenant(conn, TENANT_A) as cur:
        for table, row in GOOD.items():
            insert(cur, table, [row])
    assert counts(speak) == (1, 1, 1, 1, 1, 5)


@pytest.mark.parametrize(
    ("table", "change", "constraint"), CASES, ids=[c[2] + str(i) for i, c in enumerate(CASES)]
)
def test_each_violation_names_its_constraint_and_writes_nothing(
    speak: Speaker, table: str, change: dict[str, Any], constraint: str
) -> None:
    if table != "tenant_configs":
        with speak.app() as conn:
            add_tenant(conn, TENANT_A, "alpha")
    before = counts(speak)
    good = GOOD[table]
    with (
        speak.app() as conn,
        pytest.raises(errors.CheckViolation) as caught,
        tenant(conn, TENANT_A) as cur,
    ):
        # A valid row first: the bad one must take it down with it (nothing partial).
        valid = {**good, **{k: "now" for k in change if k not in good}}
        if table == "tenant_configs":
            valid = {**good, "tenant_id": TENANT_A}
            insert(cur, table, [{**good, **change}])
        else:
            insert(cur, table, [valid, {**good, **change}])
    assert caught.value.diag.constraint_name == constraint
    assert constraint in str(caught.value)
    assert counts(speak) == before


def test_covered_ids_match_the_catalog(speak: Speaker) -> None:
    """Every CHECK of the schema, and every trigger that stands for one, has a violating row
    above."""
    with speak.superuser() as conn:
        rows = conn.execute(
            "select conname from pg_constraint c join pg_class t on t.oid = c.conrelid "
            "where t.relnamespace = 'mapper'::regnamespace and c.contype = 'c' "
            "and not t.relispartition and t.relname <> all(array['audit_records', "
            "'audit_chain_heads', 'maintenance_log']) "
            "union select split_part(encode(tgargs, 'escape'), '\\000', 2) from pg_trigger "
            "where tgfoid = 'mapper.reject_future_time'::regproc and tgparentid = 0"
        ).fetchall()
    assert {r[0] for r in rows} == {case[2] for case in CASES}


def test_foreign_key_to_the_tenant(speak: Speaker) -> None:
    """A tenant that has no configuration row cannot write data (its own id: nothing leaks)."""
    stranger = uuid.uuid4()
    for table in ("storage_records", "detector_executions", "model_metrics"):
        with (
            speak.app() as conn,
            pytest.raises(errors.ForeignKeyViolation) as caught,
            tenant(conn, stranger) as cur,
        ):
            insert(cur, table, [{**GOOD[table], "tenant_id": stranger}])
        assert caught.value.diag.constraint_name == f"{table}_tenant_fk"
    with speak.app() as conn:
        add_tenant(conn, TENANT_A, "alpha")
        with tenant(conn, TENANT_A) as cur:
            insert(cur, "storage_records", [GOOD["storage_records"]])
        with pytest.raises(errors.ForeignKeyViolation) as caught, tenant(conn, TENANT_A) as cur:
            cur.execute("select mapper.delete_tenant()")
    assert caught.value.diag.constraint_name == "storage_records_tenant_fk"


@pytest.mark.parametrize(
    "column", ["source_data_hash", "detector_type", "confidence_score", "payload"]
)
def test_not_null(speak: Speaker, column: str) -> None:
    with speak.app() as conn:
        add_tenant(conn, TENANT_A, "alpha")
        with pytest.raises(errors.NotNullViolation) as caught, tenant(conn, TENANT_A) as cur:
            insert(cur, "storage_records", [{**GOOD["storage_records"], column: None}])
    assert caught.value.diag.column_name == column
