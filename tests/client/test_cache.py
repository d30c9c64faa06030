"""The tenant-config cache against a real redis-server: cache-aside, invalidation by the
trigger's NOTIFY and by the write path, Redis down (reads go to the database), Entra auth."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from azure.core.credentials import AccessToken

from mapperdb.client import Database
from mapperdb.client.cache import (
    Cache,
    InvalidationListener,
    TenantConfigCache,
    redis_client,
    token_object_id,
)
from tests.client.conftest import TENANT_A, TENANT_B, App


@pytest.fixture
def client(app: App) -> Iterator[Database]:
    with Database(app.conninfo, pool_min=1, pool_max=2) as db:
        yield db


@pytest.fixture
def r(redis_server: str) -> Iterator[redis.Redis]:
    client = redis_client(redis_server)
    client.flushdb()
    yield client
    client.flushdb()


def rename(db: Database, tenant: Any, name: str) -> None:
    with db.tenant(tenant) as conn:
        conn.execute("update mapper.tenant_configs set name = %s", (name,))


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for something another thread does (bounded; no timing asserted)."""
    for _ in range(1000):
        if condition():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_cache_aside(client: Database, r: redis.Redis) -> None:
    configs = TenantConfigCache(client, Cache(r))
    first = configs.get(TENANT_A)
    assert first is not None and first["tenant_id"] == str(TENANT_A)
    assert configs.cache.stats.misses == 1
    key_a = f"mapper:tenant_config:{configs.digest(TENANT_A)}"
    assert str(TENANT_A) not in key_a, "keyed by the NOTIFY digest, not the tenant id"
    assert json.loads(r.get(key_a))["name"] == "Client test 0"  # type: ignore[arg-type]
    rename(client, TENANT_A, "changed behind the cache's back")
    assert configs.get(TENANT_A) == first, "served from Redis"
    assert configs.cache.stats.hits == 1
    b = configs.get(TENANT_B)
    assert b is not None and b["name"] == "Client test 1", "one entry per tenant"
    assert 0 < r.ttl(key_a) <= 300


def test_write_path_invalidation(client: Database, r: redis.Redis) -> None:
    configs = TenantConfigCache(client, Cache(r))
    configs.get(TENANT_A)
    rename(client, TENANT_A, "renamed")
    configs.invalidate(TENANT_A)
    config = configs.get(TENANT_A)
    assert config is not None and config["name"] == "renamed"


def test_notify_invalidates_whoever_changes_the_row(
    client: Database, r: redis.Redis, app: App
) -> None:
    configs = TenantConfigCache(client, Cache(r))
    key_a, key_b = (f"mapper:tenant_config:{configs.digest(t)}" for t in (TENANT_A, TENANT_B))
    configs.get(TENANT_A)
    with InvalidationListener(app.conninfo, configs) as listener:
        until(listener.listening.is_set, "the listener")
        assert not r.exists(key_a), "a (re)connected listener drops what it may have missed"
        configs.get(TENANT_A)
        configs.get(TENANT_B)
        assert r.exists(key_a) and r.exists(key_b)
        with pytest.raises(RuntimeError), client.tenant(TENANT_A) as conn:
            conn.execute("update mapper.tenant_configs set name = 'rolled back'")
            raise RuntimeError
        rename(client, TENANT_A, "renamed elsewhere")  # e.g. by another service instance
        until(lambda: not r.exists(key_a), "the NOTIFY to drop tenant A's entry")
        assert r.exists(key_b), "only the changed tenant's entry goes"
        config = configs.get(TENANT_A)
        assert config is not None and config["name"] == "renamed elsewhere"
        assert listener.invalidated == 1, "the rolled-back change sent nothing"


def test_redis_down_reads_go_to_the_database(client: Database, tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None, "apt-get install redis-server"
    socket = tmp_path / "r.sock"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(socket), "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        client_r = redis_client(f"unix://{socket}")
        until(lambda: _pings(client_r), "redis-server")
        configs = TenantConfigCache(client, Cache(client_r))
        assert configs.get(TENANT_A) is not None
        assert configs.cache.stats.misses == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rename(client, TENANT_A, "changed while Redis was down")
    for _ in range(5):
        config = configs.get(TENANT_A)
        assert config is not None and config["name"] == "changed while Redis was down"
    stats = configs.cache.stats
    assert stats.errors == 3, "the breaker opened after three failures"
    assert stats.skipped >= 2, "then reads stopped trying Redis"
    configs.invalidate(TENANT_A)  # the write path does not fail either


def test_entra_token_authenticates_to_redis(redis_server: str) -> None:
    claims = base64.urlsafe_b64encode(json.dumps({"oid": "svc-mapper"}).encode()).rstrip(b"=")
    token = f"eyJhbGciOiJSUzI1NiJ9.{claims.decode()}.signature"
    admin = redis.Redis.from_url(redis_server)
    admin.acl_setuser(
        "svc-mapper", enabled=True, passwords=[f"+{token}"], keys=["mapper:*"], commands=["+@all"]
    )
    try:

        class Credential:
            calls = 0

            def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
                Credential.calls += 1
                assert scopes == ("https://redis.azure.com/.default",)
                return AccessToken(token, int(time.time()) + 3600)

        assert token_object_id(token) == "svc-mapper"
        client = redis_client(redis_server, credential=Credential())
        assert client.acl_whoami() in ("svc-mapper", b"svc-mapper")
        client.set("mapper:probe", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("elsewhere", "1")
        assert Credential.calls == 1
    finally:
        admin.acl_deluser("svc-mapper")
