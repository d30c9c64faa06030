"""The cache invalidation NOTIFY (migrations 0019, 0029) leaks no tenant id, and a forged one
flushes nothing.

Any login that may connect may LISTEN on any channel and NOTIFY on any channel. Here two
logins that are NOT mapper_app (a plain login and a mapper_readonly member) listen while the
app changes a configuration: they receive a keyed digest they cannot read the key of. Then a
plain login sends forged payloads to a running InvalidationListener: the cached configurations
stay, the listener keeps its connection, and a real change still invalidates."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from mapperdb.client import Database
from mapperdb.client.cache import CHANNEL, Cache, InvalidationListener, TenantConfigCache
from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.client.conftest import TENANT_A, TENANT_B, App
from tests.client.test_cache import rename, until

PLAIN = "client_listener_plain"
READER = "client_listener_reader"


@pytest.fixture(scope="session")
def listener_logins(pg: EphemeralPostgres, template_db: str) -> list[str]:
    with psycopg.connect(pg.admin_conninfo("postgres"), autocommit=True) as admin:
        for name, member_of in ((PLAIN, None), (READER, "mapper_readonly")):
            exists = admin.execute("select from pg_roles where rolname = %s", (name,)).fetchone()
            if exists is None:
                admin.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
            if member_of is not None:
                admin.execute(
                    sql.SQL("grant {} to {}").format(
                        sql.Identifier(member_of), sql.Identifier(name)
                    )
                )
    return [PLAIN, READER]


@pytest.fixture
def client(app: App) -> Iterator[Database]:
    with Database(app.conninfo, pool_min=1, pool_max=2) as db:
        yield db


@pytest.fixture
def configs(client: Database, redis_server: str) -> Iterator[TenantConfigCache]:
    r = redis.Redis.from_url(redis_server)
    r.flushdb()
    yield TenantConfigCache(client, Cache(r))
    r.flushdb()


def _listen(app: App, login: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(app.db.conninfo(login), autocommit=True)
    conn.execute(f"listen {CHANNEL}")
    return conn


def _received(conn: psycopg.Connection[Any]) -> list[str]:
    return [note.payload for note in conn.notifies(timeout=10, stop_after=1)]


@pytest.mark.parametrize("login", [PLAIN, READER])
def test_a_listener_that_is_not_the_app_learns_no_tenant_id(
    app: App, client: Database, configs: TenantConfigCache, listener_logins: list[str], login: str
) -> None:
    with _listen(app, login) as eavesdropper:
        rename(client, TENANT_A, "renamed while someone listens")
        payloads = _received(eavesdropper)
        assert len(payloads) == 1
        payload = payloads[0]
        for form in (str(TENANT_A), TENANT_A.hex, str(TENANT_A).upper(), TENANT_A.hex.upper()):
            assert form not in payload
        assert payload == configs.digest(TENANT_A), "the key the client caches under"
        assert payload != configs.digest(TENANT_B)
        assert payload != hashlib.sha256(TENANT_A.bytes).hexdigest(), "keyed, not a plain hash"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            eavesdropper.execute("select secret from mapper_private.cache_notify_key")


def test_the_key_is_readable_by_the_app_and_owner_only(app: App) -> None:
    with psycopg.connect(app.db.superuser_conninfo) as conn:
        grantees = conn.execute(
            "select array_agg(distinct a.grantee::regrole::text order by a.grantee::regrole::text)"
            " from pg_class as c, aclexplode(c.relacl) as a"
            " where c.oid = 'mapper_private.cache_notify_key'::regclass"
        ).fetchone()
        definer = conn.execute(
            "select prosecdef from pg_proc where oid = 'mapper.tenant_configs_notify'::regproc"
        ).fetchone()
    assert grantees == (["mapper_app", "mapper_owner"],)
    assert definer == (True,), "the trigger reads the key with its owner's rights"


FORGED = [
    str(TENANT_A),  # 0019's payload: no longer a name the cache knows
    "not a digest",
    "",
    "0" * 63,
    "G" * 64,
    secrets.token_hex(32).upper(),
    "x" * 7999,  # the longest payload NOTIFY accepts is 7999 bytes
]


def test_forged_notifications_flush_nothing(
    app: App, client: Database, configs: TenantConfigCache, listener_logins: list[str]
) -> None:
    r = configs.cache.client
    keys = [f"mapper:tenant_config:{configs.digest(t)}" for t in (TENANT_A, TENANT_B)]
    with InvalidationListener(app.db.conninfo(PLAIN), configs) as listener:
        until(listener.listening.is_set, "the listener")
        for tenant in (TENANT_A, TENANT_B):
            configs.get(tenant)
        assert all(r.exists(k) for k in keys)
        with psycopg.connect(app.db.conninfo(PLAIN), autocommit=True) as forger:
            for payload in FORGED:
                forger.execute("select pg_notify(%s, %s)", (CHANNEL, payload))
            unknown = secrets.token_hex(32)  # a digest of no cached tenant
            forger.execute("select pg_notify(%s, %s)", (CHANNEL, unknown))
        until(lambda: listener.ignored + listener.invalidated == len(FORGED) + 1, "the forgeries")
        assert listener.ignored == len(FORGED)
        assert all(r.exists(k) for k in keys), "no forged payload dropped a cached config"
        assert listener.connects == 1, "no forged payload made the listener reconnect"
        assert listener.listening.is_set()
        rename(client, TENANT_B, "a real change")
        until(lambda: not r.exists(keys[1]), "the real NOTIFY")
        assert r.exists(keys[0]), "only the changed tenant's entry goes"
        config = configs.get(TENANT_B)
        assert config is not None and config["name"] == "a real change"
