"""Envelope encryption of tenant payloads: AES-256-GCM under a per-tenant data key, the data
key wrapped by the tenant's Key Vault KEK (``mapper.tenant_data_keys``, migration 0018).

Ciphertext layout (``storage_records.payload``)::

    0x01 | nonce (12 random bytes) | AES-256-GCM ciphertext and 16-byte tag

and ``payload_key_version`` holds the 32-hex version of the data key. The associated data binds
each ciphertext to its tenant and record: ``b"mapper.v1" 0x00 tenant-uuid (16 bytes) 0x00
record``, so a payload copied to another tenant's row, or to another record of the same tenant,
fails to decrypt (tag mismatch), even under the right key.

Unwrapped data keys are cached in process for ``key_ttl_s`` (default 5 minutes): a Key Vault
unwrap is a network call; a cached key costs a dictionary lookup (bench/client_cost.py). Random
96-bit nonces are safe for about 2**32 payloads per data key (NIST SP 800-38D); ``mapperdb keys
rotate --reencrypt`` starts a new data key long before that.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mapperdb.client.errors import DecryptionFailed, UnknownDataKey
from mapperdb.client.kek import KekProvider
from mapperdb.errors import ConfigError

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
AAD_PREFIX = b"mapper.v1\x00"

Conn = psycopg.Connection[Any]


def associated_data(tenant_id: uuid.UUID, record: str) -> bytes:
    return AAD_PREFIX + tenant_id.bytes + b"\x00" + record.encode()


def storage_record_identity(correlation_id: str, source_data_hash: str) -> str:
    """The record identity of a storage record: known before the insert (its id is not)."""
    return f"storage_records/{correlation_id}/{source_data_hash}"


@dataclass(frozen=True)
class DataKey:
    tenant_id: uuid.UUID
    version: str  # 32 hex, stored as payload_key_version
    key: bytes = b""

    def __repr__(self) -> str:  # never print key material
        return f"DataKey(tenant_id={self.tenant_id}, version={self.version})"

    def seal(self, plaintext: bytes, record: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        aad = associated_data(self.tenant_id, record)
        return FORMAT_V1 + nonce + AESGCM(self.key).encrypt(nonce, plaintext, aad)

    def open(self, ciphertext: bytes, record: str) -> bytes:
        if ciphertext[:1] != FORMAT_V1 or len(ciphertext) < 1 + NONCE_BYTES + 16:
            raise DecryptionFailed("payload is not a mapper v1 ciphertext")
        nonce, body = ciphertext[1 : 1 + NONCE_BYTES], ciphertext[1 + NONCE_BYTES :]
        try:
            return AESGCM(self.key).decrypt(nonce, body, associated_data(self.tenant_id, record))
        except InvalidTag:
            raise DecryptionFailed(
                f"payload does not verify for tenant {self.tenant_id}, record {record!r} and "
                f"data key {self.version}: wrong tenant, wrong record or altered bytes"
            ) from None


class Envelope:
    """Per-tenant data keys in ``mapper.tenant_data_keys``, wrapped by ``keks``.

    Every method takes a connection inside ``db.tenant(tenant_id)``: row-level security shows
    it only that tenant's keys, so another tenant's key cannot even be found."""

    def __init__(
        self,
        keks: KekProvider,
        *,
        key_ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keks = keks
        self.key_ttl_s = key_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[tuple[uuid.UUID, str], tuple[float, DataKey]] = {}
        self._active: dict[uuid.UUID, tuple[float, str]] = {}
        self.unwraps = 0  # KEK unwrap calls made (tests, bench)

    # -- data keys -----------------------------------------------------------------------------
    def forget(self, tenant_id: uuid.UUID | None = None) -> None:
        """Drop cached keys (of one tenant, or all): after a rotation, or on shutdown."""
        with self._lock:
            if tenant_id is None:
                self._keys.clear()
                self._active.clear()
                return
            self._active.pop(tenant_id, None)
            for k in [k for k in self._keys if k[0] == tenant_id]:
                del self._keys[k]

    def _cached(self, tenant_id: uuid.UUID, version: str) -> DataKey | None:
        with self._lock:
            hit = self._keys.get((tenant_id, version))
            if hit is not None and self._clock() < hit[0]:
                return hit[1]
        return None

    def _remember(self, key: DataKey) -> DataKey:
        with self._lock:
            self._keys[(key.tenant_id, key.version)] = (self._clock() + self.key_ttl_s, key)
        return key

    def key(self, conn: Conn, tenant_id: uuid.UUID, version: str) -> DataKey:
        """The data key of ``version``, unwrapped (cached for ``key_ttl_s``)."""
        cached = self._cached(tenant_id, version)
        if cached is not None:
            return cached
        row = conn.execute(
            "select kek_key_id, wrapped_key from mapper.tenant_data_keys "
            "where tenant_id = %s and key_version = %s",
            (tenant_id, version),
        ).fetchone()
        if row is None:
            raise UnknownDataKey(
                f"tenant {tenant_id} has no data key {version} (or it belongs to another tenant)"
            )
        self.unwraps += 1
        return self._remember(DataKey(tenant_id, version, self.keks.unwrap(row[0], bytes(row[1]))))

    def active_key(self, conn: Conn, tenant_id: uuid.UUID) -> DataKey:
        """The key new payloads are sealed with; the tenant's first one is made on first use."""
        with self._lock:
            active = self._active.get(tenant_id)
        if active is not None and self._clock() < active[0]:
            return self.key(conn, tenant_id, active[1])
        row = conn.execute(
            "select key_version from mapper.tenant_data_keys "
            "where tenant_id = %s and state = 'active' order by seq desc limit 1",
            (tenant_id,),
        ).fetchone()
        key = (
            self.key(conn, tenant_id, row[0]) if row is not None else self.new_key(conn, tenant_id)
        )
        with self._lock:
            self._active[tenant_id] = (self._clock() + self.key_ttl_s, key.version)
        return key

    def new_key(self, conn: Conn, tenant_id: uuid.UUID, *, retire_others: bool = False) -> DataKey:
        """A fresh random data key, wrapped by the tenant's current KEK, stored as the newest."""
        row = conn.execute(
            "select key_vault_key_uri from mapper.tenant_configs where tenant_id = %s",
            (tenant_id,),
        ).fetchone()
        if row is None:
            raise ConfigError(f"tenant {tenant_id} has no configuration row (or is not in context)")
        material = AESGCM.generate_key(bit_length=256)
        wrapped = self.keks.wrap(str(row[0]), material)
        version = secrets.token_hex(16)
        if retire_others:
            conn.execute(
                "update mapper.tenant_data_keys set state = 'retired' "
                "where tenant_id = %s and state = 'active'",
                (tenant_id,),
            )
        conn.execute(
            "insert into mapper.tenant_data_keys "
            "(tenant_id, key_version, seq, wrapped_key, wrap_algorithm, kek_key_id) "
            "select %s, %s, coalesce(max(seq), 0) + 1, %s, %s, %s "
            "from mapper.tenant_data_keys where tenant_id = %s",
            (
                tenant_id,
                version,
                wrapped.wrapped_key,
                wrapped.algorithm,
                wrapped.kek_key_id,
                tenant_id,
            ),
        )
        key = self._remember(DataKey(tenant_id, version, material))
        with self._lock:
            self._active[tenant_id] = (self._clock() + self.key_ttl_s, version)
        return key

    # -- payloads ------------------------------------------------------------------------------
    def encrypt(
        self, conn: Conn, tenant_id: uuid.UUID, plaintext: bytes, record: str
    ) -> tuple[bytes, str]:
        """``(payload, payload_key_version)`` for a row of ``tenant_id`` named ``record``."""
        key = self.active_key(conn, tenant_id)
        return key.seal(plaintext, record), key.version

    def decrypt(
        self, conn: Conn, tenant_id: uuid.UUID, payload: bytes, key_version: str, record: str
    ) -> bytes:
        return self.key(conn, tenant_id, key_version).open(bytes(payload), record)
