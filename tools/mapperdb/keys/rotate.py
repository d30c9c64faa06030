"""Rotation of a tenant's data keys.

* **Re-wrap** (always): after the tenant's Key Vault KEK got a new version, every data key
  still wrapped by an older version is unwrapped and wrapped again by the current one. Payloads
  are untouched: their data key (and ``payload_key_version``) stays the same. Afterwards the
  old KEK version can be disabled in Key Vault.
* **Re-encrypt** (on request): a new data key becomes active and the others are retired; every
  storage record under a retired key is decrypted and sealed again under the new key, in
  batches of ``batch_size`` rows, each batch its own transaction (audited like any update).
  Retired keys stay, so backups taken before remain readable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from mapperdb.client.database import Database
from mapperdb.client.envelope import Envelope, storage_record_identity
from mapperdb.errors import ConfigError


@dataclass(frozen=True)
class RotationResult:
    tenant_id: str
    kek_key_id: str
    rewrapped: int
    already_current: int
    new_key_version: str | None = None
    reencrypted: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def rewrap(db: Database, envelope: Envelope, tenant_id: uuid.UUID) -> tuple[str, int, int]:
    """Re-wrap every data key of the tenant under its current KEK version, in one transaction.
    Returns (current KEK id, keys re-wrapped, keys already current)."""
    with db.tenant(tenant_id, actor="mapperdb-keys-rotate") as conn:
        row = conn.execute(
            "select key_vault_key_uri from mapper.tenant_configs where tenant_id = %s",
            (tenant_id,),
        ).fetchone()
        if row is None:
            raise ConfigError(
                f"tenant {tenant_id} not found (or this login is not a member of mapper_app)"
            )
        current = envelope.keks.current(str(row[0]))
        keys = conn.execute(
            "select key_version, kek_key_id, wrapped_key from mapper.tenant_data_keys "
            "where tenant_id = %s order by seq for update",
            (tenant_id,),
        ).fetchall()
        done = 0
        for version, kek_key_id, wrapped_key in keys:
            if kek_key_id == current:
                continue
            material = envelope.keks.unwrap(kek_key_id, bytes(wrapped_key))
            wrapped = envelope.keks.wrap(current, material)
            conn.execute(
                "update mapper.tenant_data_keys set wrapped_key = %s, kek_key_id = %s, "
                "wrap_algorithm = %s, wrapped_at = now() where tenant_id = %s and key_version = %s",
                (wrapped.wrapped_key, wrapped.kek_key_id, wrapped.algorithm, tenant_id, version),
            )
            done += 1
    envelope.forget(tenant_id)
    return current, done, len(keys) - done


def count_stale(db: Database, tenant_id: uuid.UUID, version: str) -> int:
    with db.tenant(tenant_id, readonly=True) as conn:
        row = conn.execute(
            "select count(*) from mapper.storage_records where payload_key_version <> %s",
            (version,),
        ).fetchone()
    return int(row[0]) if row is not None else 0


def reencrypt(
    db: Database,
    envelope: Envelope,
    tenant_id: uuid.UUID,
    *,
    batch_size: int = 500,
    on_total: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """A new active data key, then every record under another key sealed again under it.
    Returns (new key version, records re-encrypted)."""
    with db.tenant(tenant_id, actor="mapperdb-keys-rotate") as conn:
        new = envelope.new_key(conn, tenant_id, retire_others=True)
    if on_total is not None:
        on_total(count_stale(db, tenant_id, new.version))
    total = 0
    while True:
        with db.tenant(tenant_id, actor="mapperdb-keys-rotate") as conn:
            rows = conn.execute(
                "select created_at, id, payload, payload_key_version, correlation_id, "
                "source_data_hash from mapper.storage_records "
                "where payload_key_version <> %s order by created_at, id limit %s "
                "for update skip locked",
                (new.version, batch_size),
            ).fetchall()
            for created_at, record_id, payload, version, correlation_id, source_hash in rows:
                record = storage_record_identity(correlation_id, source_hash)
                plaintext = envelope.decrypt(conn, tenant_id, payload, version, record)
                conn.execute(
                    "update mapper.storage_records set payload = %s, payload_key_version = %s "
                    "where tenant_id = %s and created_at = %s and id = %s",
                    (new.seal(plaintext, record), new.version, tenant_id, created_at, record_id),
                )
        total += len(rows)
        if on_batch is not None and rows:
            on_batch(len(rows))
        if len(rows) < batch_size:
            return new.version, total
