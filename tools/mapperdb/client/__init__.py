"""``mapperdb.client``: the library the Llama Mapper service uses to talk to its database.

``Database`` (pools, tenant transactions, replica routing, retries, circuit breakers, health),
``Envelope`` (per-tenant data keys wrapped by the Key Vault KEK, AES-256-GCM payloads) and
``TenantConfigCache`` (cache-aside in Redis). See docs/client.md.
"""

from __future__ import annotations

from mapperdb.client.auth import TokenSource
from mapperdb.client.breaker import BreakerPolicy, CircuitBreaker
from mapperdb.client.database import Database, EndpointHealth, Health
from mapperdb.client.errors import (
    CircuitOpen,
    DecryptionFailed,
    OutcomeUnknown,
    SessionNotClean,
    UnknownDataKey,
)
from mapperdb.client.retry import RetryPolicy, is_transient

__all__ = [
    "BreakerPolicy",
    "CircuitBreaker",
    "CircuitOpen",
    "Database",
    "DecryptionFailed",
    "EndpointHealth",
    "Health",
    "OutcomeUnknown",
    "RetryPolicy",
    "SessionNotClean",
    "TokenSource",
    "UnknownDataKey",
    "is_transient",
]
