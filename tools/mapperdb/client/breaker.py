"""A circuit breaker per endpoint: closed, open after ``failure_threshold`` consecutive
transient failures, half-open after ``reset_timeout_s`` to let one probe through.

Hand-written rather than pybreaker: pybreaker times its open state with the wall clock
(``datetime.now``), which cannot be injected, so tests of the half-open probe would have to
sleep; it also counts every exception unless told otherwise, where this breaker is fed only the
failures the retry policy calls transient. It is forty lines with a monotonic, injectable clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    reset_timeout_s: float = 30.0


class CircuitBreaker:
    def __init__(
        self, policy: BreakerPolicy, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._state = State.CLOSED
        self._probing = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._current()

    def _current(self) -> State:
        if (
            self._state is State.OPEN
            and self._clock() - self._opened_at >= self.policy.reset_timeout_s
        ):
            self._state = State.HALF_OPEN
            self._probing = False
        return self._state

    def allow(self) -> bool:
        """May a call go through now? In half-open state, exactly one probe may."""
        if self._state is State.CLOSED:  # the common case, without the lock
            return True
        with self._lock:
            state = self._current()
            if state is State.CLOSED:
                return True
            if state is State.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def success(self) -> None:
        if self._state is State.CLOSED and not self._failures:  # nothing to reset
            return
        with self._lock:
            self._failures = 0
            self._state = State.CLOSED
            self._probing = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is State.HALF_OPEN or self._failures >= self.policy.failure_threshold:
                self._state = State.OPEN
                self._opened_at = self._clock()
                self._probing = False
