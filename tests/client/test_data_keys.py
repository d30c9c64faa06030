"""mapper.tenant_data_keys (0018): one violating row per CHECK, as the app, names the
constraint and writes nothing; the table's checks are exactly these."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from mapperdb.client import Database
from tests.client.conftest import TENANT_A, App

KEK = "https://kv-mapper-test.vault.azure.net/keys/tenant-kek/" + "ab" * 16
GOOD: dict[str, Any] = {
    "key_version": "0" * 32,
    "seq": 1,
    "state": "active",
    "wrapped_key": b"w" * 256,
    "wrap_algorithm": "RSA-OAEP-256",
    "kek_key_id": KEK,
}
CASES = [
    ("key_version", "ABC", "tenant_data_keys_key_version_check"),
    ("key_version", "0" * 31, "tenant_data_keys_key_version_check"),
    ("seq", 0, "tenant_data_keys_seq_check"),
    ("state", "deleted", "tenant_data_keys_state_check"),
    ("wrapped_key", b"short", "tenant_data_keys_wrapped_key_check"),
    ("wrap_algorithm", "RSA1_5", "tenant_data_keys_wrap_algorithm_check"),
    ("kek_key_id", "https://evil.example.com/keys/k/00", "tenant_data_keys_kek_key_id_check"),
    ("kek_key_id", KEK.rsplit("/", 1)[0], "tenant_data_keys_kek_key_id_check"),
    ("created_at", "infinity", "tenant_data_keys_created_at_check"),  # the time window (0024)
]


def _insert(db: Database, row: dict[str, Any], **extra: Any) -> None:
    with db.tenant(TENANT_A) as conn:
        columns = ", ".join(["tenant_id", *row, *extra])
        values = ", ".join(["%s"] * (len(row) + len(extra) + 1))
        conn.execute(
            f"insert into mapper.tenant_data_keys ({columns}) values ({values})",
            (TENANT_A, *row.values(), *extra.values()),
        )


@pytest.mark.parametrize(("column", "value", "constraint"), CASES)
def test_each_check_rejects_its_violation(
    app: App, column: str, value: Any, constraint: str
) -> None:
    with Database(app.conninfo, pool_min=0, pool_max=1) as db:
        with pytest.raises(psycopg.errors.CheckViolation) as caught:
            _insert(db, {**GOOD, column: value})
        assert caught.value.diag.constraint_name == constraint
        with pytest.raises(psycopg.errors.CheckViolation) as caught:
            _insert(db, GOOD, created_at="2026-01-02", wrapped_at="2026-01-01")
        assert caught.value.diag.constraint_name == "tenant_data_keys_wrapped_at_check"
        _insert(db, GOOD)  # the good row passes
        with db.tenant(TENANT_A) as conn:
            assert conn.execute("select count(*) from mapper.tenant_data_keys").fetchone() == (1,)


def test_cases_cover_every_check(app: App) -> None:
    with psycopg.connect(app.db.superuser_conninfo) as conn:
        rows = conn.execute(
            "select conname from pg_constraint where contype = 'c' "
            "and conrelid = 'mapper.tenant_data_keys'::regclass"
        ).fetchall()
    assert {r[0] for r in rows} == {c[2] for c in CASES} | {"tenant_data_keys_wrapped_at_check"}
