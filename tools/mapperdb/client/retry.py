"""Which failures are retried, and how: exponential backoff with full jitter (tenacity).

Retried, because the server rolled the transaction back and the same work may succeed now:
serialization failure (40001), deadlock (40P01), admin shutdown (57P01, e.g. a failover or a
restart), and the connection lost before COMMIT was sent (the server rolls back what it had).
A connection lost *while* committing leaves the outcome unknown: such work is retried only when
the caller says it is idempotent, otherwise :class:`OutcomeUnknown` is raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import psycopg_pool
import tenacity

# Transaction rolled back by the server; retrying the whole transaction is safe.
RETRY_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, the first included
    base_delay_s: float = 0.05  # backoff scale: the n-th wait is uniform in [0, base * 2**n]
    max_delay_s: float = 2.0


def is_transient(exc: BaseException) -> bool:
    """A failure that may go away if the same transaction runs again."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return True
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate in RETRY_SQLSTATES:
            return True
        # Connection loss (server terminated, network cut, failover): no SQLSTATE, or class 08.
        if isinstance(exc, psycopg.OperationalError) and (
            exc.sqlstate is None or exc.sqlstate.startswith("08")
        ):
            return True
    return False


def retrying(
    policy: RetryPolicy,
    should_retry: Callable[[BaseException], bool],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tenacity.Retrying:
    """Full jitter (tenacity's ``wait_random_exponential``): retries of many clients after a
    failover spread out instead of arriving together."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=tenacity.wait_random_exponential(
            multiplier=policy.base_delay_s, max=policy.max_delay_s
        ),
        retry=tenacity.retry_if_exception(should_retry),
        reraise=True,
        sleep=sleep,
    )
