"""Entra ID tokens as passwords: one token source per endpoint, refreshed before it expires.

Azure Database for PostgreSQL checks the token only when a connection authenticates, so every
new connection asks the source, and the source asks the credential again once the cached token
is within ``refresh_margin_s`` of its expiry (azure-identity's ``AccessToken.expires_on``,
seconds since the epoch). No password is stored anywhere: the token is handed to libpq as the
password of the one connection being opened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mapperdb.db import TokenCredential
from mapperdb.platform import ENTRA_SCOPE

REDIS_SCOPE = "https://redis.azure.com/.default"

__all__ = ["REDIS_SCOPE", "TokenCredential", "TokenSource"]


class TokenSource:
    """A cached access token for one scope, renewed ``refresh_margin_s`` before expiry."""

    def __init__(
        self,
        credential: TokenCredential,
        scope: str = ENTRA_SCOPE,
        *,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._margin = refresh_margin_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_on - self._margin:
                access = self._credential.get_token(self._scope)
                self._token = str(access.token)
                self._expires_on = float(access.expires_on)
            return self._token
