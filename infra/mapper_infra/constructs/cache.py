"""The application's cache: Azure Cache for Redis (Premium), reachable only through a private
endpoint, TLS 1.2 only, Entra ID authentication with no access keys, and a data access policy
assignment per application identity (mapperdb.client's cache authenticates as that identity).

Why not Azure Managed Redis (``azurerm_managed_redis``), its successor: in azurerm 4.55 it has no
resource for Entra *data* access policy assignments, so an identity could not be granted access
from code; Azure Cache for Redis has ``azurerm_redis_cache_access_policy_assignment``. The client
speaks the same protocol to both (user = the identity's object id, password = a token for
``https://redis.azure.com/.default``), so moving later changes this construct only.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_azurerm.redis_cache import (
    RedisCache,
    RedisCacheIdentity,
    RedisCacheRedisConfiguration,
)
from cdktf_cdktf_provider_azurerm.redis_cache_access_policy_assignment import (
    RedisCacheAccessPolicyAssignment,
)
from constructs import Construct

from mapper_infra import config
from mapper_infra.constructs.network import EndpointProps, private_endpoint
from mapper_infra.constructs.site import Site

# The private DNS zone the endpoint registers in (the network construct links it to the VNets).
DNS_ZONE = "privatelink.redis.cache.windows.net"
SUBRESOURCE = "redisCache"
# Built-in data access policy: read and write keys, no FLUSHALL/CONFIG/ACL (Data Owner has those).
APP_ACCESS_POLICY = "Data Contributor"


@dataclass(frozen=True)
class CacheWiring:
    name: str  # globally unique: <name>.redis.cache.windows.net
    endpoint_subnet_id: str
    dns_zone_id: str  # the privatelink.redis.cache.windows.net zone
    app_principal_id: str  # the service's managed identity (its principal, not client, id)


class AppCache(Construct):
    """One Redis cache for the service, private and passwordless."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        site: Site,
        cache: config.Cache,
        wiring: CacheWiring,
    ) -> None:
        super().__init__(scope, id_)
        self.redis = RedisCache(
            self,
            "redis",
            name=wiring.name,
            resource_group_name=site.resource_group_name,
            location=site.location,
            sku_name=cache.sku_name,
            family=cache.family,
            capacity=cache.capacity,
            # Zone redundancy is a Premium feature, and Azure refuses more zones than nodes: a
            # primary and two replicas, one per zone.
            zones=["1", "2", "3"] if cache.sku_name == "Premium" else None,
            replicas_per_primary=2 if cache.sku_name == "Premium" else None,
            redis_version="6",
            minimum_tls_version="1.2",
            non_ssl_port_enabled=False,
            public_network_access_enabled=False,
            access_keys_authentication_enabled=False,
            identity=RedisCacheIdentity(type="SystemAssigned"),
            redis_configuration=RedisCacheRedisConfiguration(
                active_directory_authentication_enabled=True,
                # A cache, not a store: evict the least recently used key under pressure.
                maxmemory_policy="allkeys-lru",
            ),
        )
        self.endpoint = private_endpoint(
            self,
            "endpoint",
            site,
            EndpointProps(
                name=f"{wiring.name}-pe",
                subnet_id=wiring.endpoint_subnet_id,
                target_id=self.redis.id,
                subresource=SUBRESOURCE,
                dns_zone_id=wiring.dns_zone_id,
            ),
        )
        self.assignments = [
            RedisCacheAccessPolicyAssignment(
                self,
                f"access-{alias}",
                name=alias,
                redis_cache_id=self.redis.id,
                access_policy_name=APP_ACCESS_POLICY,
                object_id=object_id,
                object_id_alias=alias,
            )
            for alias, object_id in sorted(
                {"service": wiring.app_principal_id, **cache.app_identities}.items()
            )
        ]

    @property
    def hostname(self) -> str:
        """Clients connect to rediss://<hostname>:6380 (TLS)."""
        hostname: str = self.redis.hostname
        return hostname
