"""Envelope encryption against the real schema: per-tenant data keys wrapped by a KEK,
AES-256-GCM bound to tenant and record, and ``mapperdb keys rotate`` (re-wrap, re-encrypt)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mapperdb.client import Database, DecryptionFailed, UnknownDataKey
from mapperdb.client.envelope import DataKey, Envelope, storage_record_identity
from mapperdb.client.kek import LocalKeks
from tests.client.conftest import KEK_URI, TENANT_A, TENANT_B, App

Conn = psycopg.Connection[Any]
PLAINTEXT = b'{"detector": "pii", "spans": [[3, 17]], "text": "call me at +44 20 7946 0000"}'


@pytest.fixture
def keks(tmp_path: Path) -> LocalKeks:
    return LocalKeks(tmp_path / "keks", key_size=2048)


@pytest.fixture
def client(app: App) -> Iterator[Database]:
    with Database(app.conninfo, pool_min=1, pool_max=2) as db:
        yield db


def insert_record(conn: Conn, envelope: Envelope, tenant: uuid.UUID, n: int) -> str:
    """One storage record as the service writes it; returns its record identity."""
    source_hash = hashlib.sha256(f"{tenant}-{n}".encode()).hexdigest()
    correlation = f"req-{n:04d}"
    record = storage_record_identity(correlation, source_hash)
    payload, version = envelope.encrypt(conn, tenant, PLAINTEXT + bytes([n]), record)
    conn.execute(
        "insert into mapper.storage_records (tenant_id, source_data_hash, detector_type, "
        "taxonomy_labels, confidence_score, model_version, correlation_id, azure_region, "
        "payload, payload_key_version) values (%s, %s, 'pii', array['PII.Contact.Phone'], "
        "0.9, 'llama-mapper-1.5.0', %s, 'westeurope', %s, %s)",
        (tenant, source_hash, correlation, payload, version),
    )
    return record


def read_records(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select payload, payload_key_version, correlation_id, source_data_hash "
        "from mapper.storage_records order by correlation_id"
    ).fetchall()


def decrypt_all(conn: Conn, envelope: Envelope, tenant: uuid.UUID) -> list[bytes]:
    return [
        envelope.decrypt(conn, tenant, p, v, storage_record_identity(c, h))
        for p, v, c, h in read_records(conn)
    ]


def test_round_trip_through_the_schema(client: Database, keks: LocalKeks) -> None:
    envelope = Envelope(keks)
    with client.tenant(TENANT_A) as conn:
        for n in range(3):
            insert_record(conn, envelope, TENANT_A, n)
    fresh = Envelope(keks)  # nothing cached: keys come from the table, unwrapped by the KEK
    with client.tenant(TENANT_A, readonly=True) as conn:
        rows = read_records(conn)
        assert decrypt_all(conn, fresh, TENANT_A) == [PLAINTEXT + bytes([n]) for n in range(3)]
        keys = conn.execute(
            "select key_version, seq, state, kek_key_id, wrap_algorithm, octet_length(wrapped_key) "
            "from mapper.tenant_data_keys"
        ).fetchall()
    assert all(PLAINTEXT not in bytes(p) for p, *_ in rows)
    assert len(keys) == 1 and {r[1] for r in rows} == {keys[0][0]}
    _, seq, state, kek_key_id, algorithm, wrapped_len = keys[0]
    assert (seq, state, algorithm, wrapped_len) == (1, "active", "RSA-OAEP-256", 256)
    assert kek_key_id.startswith(KEK_URI + "/")
    assert fresh.unwraps == 1, "one unwrap, then the cached data key"


def test_a_tenants_ciphertext_does_not_decrypt_under_another_tenant(
    client: Database, keks: LocalKeks
) -> None:
    envelope = Envelope(keks)
    with client.tenant(TENANT_A) as conn:
        record = insert_record(conn, envelope, TENANT_A, 1)
        payload, version, *_ = read_records(conn)[0]
        key_a = envelope.key(conn, TENANT_A, version)
    with client.tenant(TENANT_B) as conn:
        insert_record(conn, envelope, TENANT_B, 1)  # B has keys of its own
        # B's context cannot find A's data key: row-level security hides it.
        with pytest.raises(UnknownDataKey):
            Envelope(keks).decrypt(conn, TENANT_B, payload, version, record)
        with pytest.raises(UnknownDataKey):
            envelope.decrypt(conn, TENANT_B, payload, version, record)  # warm cache, same
    # Even holding A's key material, the tenant is part of the associated data.
    with pytest.raises(DecryptionFailed, match="wrong tenant"):
        DataKey(TENANT_B, version, key_a.key).open(bytes(payload), record)
    # Same tenant, another record: the record identity is bound too.
    with pytest.raises(DecryptionFailed):
        key_a.open(bytes(payload), storage_record_identity("req-9999", "0" * 64))
    tampered = bytearray(payload)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        key_a.open(bytes(tampered), record)
    assert key_a.open(bytes(payload), record) == PLAINTEXT + bytes([1])
    assert "key=" not in repr(key_a)


def test_the_app_cannot_rename_move_or_delete_keys(client: Database, keks: LocalKeks) -> None:
    with client.tenant(TENANT_A) as conn:
        Envelope(keks).active_key(conn, TENANT_A)
    for statement in (
        "update mapper.tenant_data_keys set key_version = repeat('0', 32)",
        "update mapper.tenant_data_keys set tenant_id = 'bbbbbbbb-0000-4000-8000-0000000000c2'",
        "delete from mapper.tenant_data_keys",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), client.tenant(TENANT_A) as c:
            c.execute(statement)


def mapperdb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapperdb", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_keys_rotate_rewraps_then_reencrypts(client: Database, keks: LocalKeks, app: App) -> None:
    envelope = Envelope(keks)
    with client.tenant(TENANT_A) as conn:
        for n in range(5):
            insert_record(conn, envelope, TENANT_A, n)
    with client.tenant(TENANT_B) as conn:
        insert_record(conn, envelope, TENANT_B, 0)
        before_b = read_records(conn)
    with client.tenant(TENANT_A) as conn:
        before = read_records(conn)
        (old_kek,) = conn.execute("select kek_key_id from mapper.tenant_data_keys").fetchone()  # type: ignore[misc]

    new_kek = keks.rotate(KEK_URI)  # Key Vault's rotation policy made a new KEK version
    args = ["keys", "rotate", "--tenant", str(TENANT_A), "--dsn", app.conninfo]
    result = mapperdb(*args, "--format", "json", env={"MAPPERDB_LOCAL_KEYS": str(keks.directory)})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out == {
        "tenant_id": str(TENANT_A),
        "kek_key_id": new_kek,
        "rewrapped": 1,
        "already_current": 0,
        "new_key_version": None,
        "reencrypted": 0,
    }
    # The old KEK version can go: payloads were not touched, their data key now opens with the
    # new KEK version.
    old = Path(keks.directory, "tenant-kek", old_kek.rsplit("/", 1)[1] + ".pem")
    old.unlink()
    with client.tenant(TENANT_A) as conn:
        assert read_records(conn) == before
        assert decrypt_all(conn, Envelope(keks), TENANT_A) == [
            PLAINTEXT + bytes([n]) for n in range(5)
        ]
    again = mapperdb(*args, "--local-keys", str(keks.directory))
    assert again.returncode == 0, again.stderr
    assert "0 data key(s) re-wrapped" in again.stdout and "1 already current" in again.stdout

    result = mapperdb(
        *args, "--reencrypt", "--batch-size", "2", "--local-keys", str(keks.directory),
        env={"MAPPERDB_PROGRESS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 record(s) re-encrypted under data key" in result.stdout
    assert "re-encrypting" in result.stderr, "progress is shown"
    with client.tenant(TENANT_A) as conn:
        after = read_records(conn)
        states = conn.execute(
            "select seq, state from mapper.tenant_data_keys order by seq"
        ).fetchall()
        assert decrypt_all(conn, Envelope(keks), TENANT_A) == [
            PLAINTEXT + bytes([n]) for n in range(5)
        ]
    assert states == [(1, "retired"), (2, "active")]
    assert len({v for _, v, *_ in after}) == 1 and after[0][1] != before[0][1]
    assert all(a[0] != b[0] for a, b in zip(after, before, strict=True))
    with client.tenant(TENANT_B) as conn:
        assert read_records(conn) == before_b, "another tenant's rows are untouched"


def test_keys_rotate_usage_errors(app: App, keks: LocalKeks) -> None:
    bad = mapperdb("keys", "rotate", "--tenant", "nope", "--local-keys", str(keks.directory))
    assert bad.returncode == 2 and "not a uuid" in bad.stderr
    missing = mapperdb(
        "keys", "rotate", "--tenant", str(uuid.uuid4()), "--dsn", app.conninfo,
        "--local-keys", str(keks.directory),
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "not found" in missing.stderr
