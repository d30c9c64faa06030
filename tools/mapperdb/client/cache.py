"""Cache-aside in Redis for tenant configuration and other read-mostly lookups.

* A read asks Redis first; on a miss it loads from PostgreSQL (in the tenant's read-only
  transaction, so row-level security decides what is loaded) and stores the value with a TTL.
* Invalidation: the write path calls :meth:`TenantConfigCache.invalidate`, and
  :class:`InvalidationListener` drops a tenant's entry when ``NOTIFY mapper_tenant_configs``
  (sent at commit by the trigger of migrations 0019 and 0029, whoever changed the row) names
  it. The payload is not the tenant id, which any login could LISTEN to, but a keyed digest
  of it (sha256 over a secret only mapper_app may read, then the id's 16 bytes), and entries
  are keyed by that digest: the listener drops the entry named without knowing the tenant. A
  payload that is not a digest (any login may NOTIFY) is ignored and logged at debug level;
  a replayed digest drops one entry. After a listener reconnect every tenant-config entry is
  dropped: notifications sent while it was away are lost. The TTL bounds staleness if all of
  that fails.
* Redis is never required: any Redis error sends the read to the database, and a circuit
  breaker skips Redis for ``reset_timeout_s`` after repeated failures, so an outage costs no
  connect timeouts on the hot path.
* Azure Managed Redis with Entra ID: :func:`redis_client` with a credential authenticates each
  new connection with a token (scope ``https://redis.azure.com/.default``, user = the token's
  object id), over TLS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import redis
from redis.credentials import CredentialProvider

from mapperdb.client.auth import REDIS_SCOPE, TokenCredential, TokenSource
from mapperdb.client.breaker import BreakerPolicy, CircuitBreaker
from mapperdb.client.database import Database
from mapperdb.errors import EnvironmentProblem

log = logging.getLogger(__name__)
T = TypeVar("T")
CHANNEL = "mapper_tenant_configs"
TENANT_CONFIG = "tenant_config:"
# The payload of migration 0029's NOTIFY: the hex of a SHA-256 digest.
DIGEST = re.compile(r"[0-9a-f]{64}")
NOTIFY_KEY_QUERY = "select secret from mapper_private.cache_notify_key where id = 1"
TENANT_CONFIG_QUERY = """
select tenant_id::text, name, status, retention_days, key_vault_key_uri, allowed_detector_types,
    updated_at::text
from mapper.tenant_configs where tenant_id = %s
"""
TENANT_CONFIG_FIELDS = (
    "tenant_id",
    "name",
    "status",
    "retention_days",
    "key_vault_key_uri",
    "allowed_detector_types",
    "updated_at",
)


class EntraRedisCredentials(CredentialProvider):
    """redis-py credentials from Entra ID: (object id, access token), renewed before expiry."""

    def __init__(self, credential: TokenCredential, *, username: str | None = None) -> None:
        self._tokens = TokenSource(credential, REDIS_SCOPE)
        self._username = username

    def get_credentials(self) -> tuple[str, str]:
        token = self._tokens.token()
        return self._username or token_object_id(token), token


def token_object_id(token: str) -> str:
    """The ``oid`` claim of a JWT access token (the Redis user name of an Entra identity)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["oid"])
    except (IndexError, ValueError, KeyError) as exc:
        raise ValueError("the Entra token has no oid claim; pass username=") from exc


def redis_client(
    url: str,
    *,
    credential: TokenCredential | None = None,
    username: str | None = None,
    timeout_s: float = 0.25,
) -> redis.Redis:
    """A client with short timeouts (Redis is an optimisation: never wait long for it)."""
    kwargs: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry_on_timeout": False,
    }
    if credential is not None:
        kwargs["credential_provider"] = EntraRedisCredentials(credential, username=username)
    return redis.Redis.from_url(url, **kwargs)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    skipped: int = 0  # reads that did not try Redis because its breaker was open


class Cache:
    """Cache-aside over one Redis; values are JSON."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "mapper:",
        ttl_s: int = 300,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.breaker = CircuitBreaker(
            breaker or BreakerPolicy(failure_threshold=3, reset_timeout_s=10)
        )
        self.stats = CacheStats()

    def _call(self, action: Callable[[], T]) -> tuple[bool, T | None]:
        if not self.breaker.allow():
            self.stats.skipped += 1
            return False, None
        try:
            result = action()
        except redis.RedisError as exc:
            self.stats.errors += 1
            self.breaker.failure()
            log.warning("redis unavailable, using the database: %s", exc)
            return False, None
        self.breaker.success()
        return True, result

    def get_or_load(self, key: str, loader: Callable[[], T], *, ttl_s: int | None = None) -> T:
        name = self.prefix + key
        ok, raw = self._call(lambda: self.client.get(name))
        if ok and raw is not None:
            self.stats.hits += 1
            value: T = json.loads(raw)  # type: ignore[arg-type]
            return value
        self.stats.misses += 1
        value = loader()
        if ok and value is not None:
            text = json.dumps(value, sort_keys=True)
            self._call(lambda: self.client.set(name, text, ex=ttl_s or self.ttl_s))
        return value

    def invalidate(self, *keys: str) -> int:
        """Drop entries; how many there were (0 if Redis is unreachable)."""
        if not keys:
            return 0
        _, dropped = self._call(lambda: self.client.delete(*(self.prefix + k for k in keys)))
        return int(dropped or 0)  # type: ignore[arg-type]

    def invalidate_prefix(self, prefix: str) -> int:
        def drop() -> int:
            names = list(self.client.scan_iter(match=self.prefix + prefix + "*", count=500))
            return int(self.client.unlink(*names)) if names else 0  # type: ignore[arg-type]

        _, dropped = self._call(drop)
        return dropped or 0


class TenantConfigCache:
    """A tenant's configuration row, as a dict, cached in Redis under a keyed digest of the
    tenant id (the NOTIFY payload of migration 0029), so that a listener can drop it."""

    def __init__(self, db: Database, cache: Cache) -> None:
        self.db = db
        self.cache = cache
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    def _notify_secret(self, tenant_id: uuid.UUID) -> bytes:
        """The digests' secret, read once (any tenant's transaction may read it)."""
        with self._lock:
            if self._secret is None:

                def query(conn: psycopg.Connection[Any]) -> bytes:
                    row = conn.execute(NOTIFY_KEY_QUERY).fetchone()
                    if row is None:
                        raise EnvironmentProblem(
                            "mapper_private.cache_notify_key has no row: migration 0029 creates it"
                        )
                    return bytes(row[0])

                self._secret = self.db.run(tenant_id, query, readonly=True)
            return self._secret

    def digest(self, tenant_id: uuid.UUID | str) -> str:
        """The tenant's cache key and NOTIFY payload: sha256(secret || id's 16 bytes), hex."""
        tenant = uuid.UUID(str(tenant_id))
        return hashlib.sha256(self._notify_secret(tenant) + tenant.bytes).hexdigest()

    def _load(self, tenant_id: uuid.UUID) -> dict[str, Any] | None:
        def query(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
            row = conn.execute(TENANT_CONFIG_QUERY, (tenant_id,)).fetchone()
            return None if row is None else dict(zip(TENANT_CONFIG_FIELDS, row, strict=True))

        return self.db.run(tenant_id, query, readonly=True)

    def get(self, tenant_id: uuid.UUID | str) -> dict[str, Any] | None:
        tenant = uuid.UUID(str(tenant_id))
        key = TENANT_CONFIG + self.digest(tenant)
        return self.cache.get_or_load(key, lambda: self._load(tenant))

    def invalidate(self, tenant_id: uuid.UUID | str) -> None:
        """The write path calls this after committing a change (the NOTIFY does it too)."""
        self.cache.invalidate(TENANT_CONFIG + self.digest(tenant_id))

    def invalidate_digest(self, digest: str) -> int:
        """Drop the entry a NOTIFY payload names; how many there were (0 or 1)."""
        return self.cache.invalidate(TENANT_CONFIG + digest)


class InvalidationListener:
    """A thread that LISTENs on ``mapper_tenant_configs`` and drops the named tenants' entries.

    It uses its own connection (LISTEN needs a session of its own), which needs no right on
    the schema: payloads are digests, matched against the cache's keys. It reconnects with
    backoff, and after each (re)connect drops every tenant-config entry, because
    notifications sent while it was disconnected are lost. ``invalidated`` counts the digests
    received, ``ignored`` the payloads that were not digests (forged: any login may NOTIFY),
    ``connects`` the (re)connections."""

    def __init__(
        self,
        conninfo: str,
        cache: TenantConfigCache,
        *,
        connect: Callable[[str], psycopg.Connection[Any]] | None = None,
        backoff_s: float = 1.0,
    ) -> None:
        self.conninfo = conninfo
        self.cache = cache
        self._connect = connect or (lambda info: psycopg.connect(info, autocommit=True))
        self._backoff_s = backoff_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="mapperdb-cache-listener", daemon=True
        )
        self.listening = threading.Event()
        self.invalidated = 0
        self.ignored = 0
        self.connects = 0

    def start(self) -> InvalidationListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> InvalidationListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connect(self.conninfo) as conn:
                    conn.execute(f"listen {CHANNEL}")
                    self.connects += 1
                    self.cache.cache.invalidate_prefix(TENANT_CONFIG)
                    self.listening.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._received(note.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("cache listener reconnecting: %s", exc)
                self._stop.wait(self._backoff_s)

    def _received(self, payload: str) -> None:
        if DIGEST.fullmatch(payload) is None:
            self.ignored += 1
            log.debug("cache listener: ignored a payload that is not a digest: %.80r", payload)
            return
        self.invalidated += 1
        if not self.cache.invalidate_digest(payload):
            log.debug("cache listener: no cached entry for digest %s", payload)
