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

from collections.abc import Mapping
from dataclasses import dataclass, field

from cdktf_cdktf_provider_azurerm.redis_cache import (
    RedisCache,
    RedisCacheIdentity,
    RedisCacheRedisConfiguration,
)
from cdktf_cdktf_provider_azurerm.redis_cache_access_policy_assignment import (
    RedisCacheAccessPolicyAssignment,
)
from constructs import Construct

from mapper_infra.constructs.network import EndpointProps, private_endpoint

# The private DNS zone the endpoint registers in (the network construct links it to the VNets).
DNS_ZONE = "privatelink.redis.cache.windows.net"
SUBRESOURCE = "redisCache"
# Built-in data access policy: read and write keys, no FLUSHALL/CONFIG/ACL (Data Owner has those).
APP_ACCESS_POLICY = "Data Contributor"


@dataclass(frozen=True)
class CacheProps:
    name: str  # globally unique: <name>.redis.cache.windows.net
    resource_group_name: str
    location: str
    endpoint_subnet_id: str
    dns_zone_id: str  # the privatelink.redis.cache.windows.net zone
    # alias -> Entra object id of each application identity allowed to use the cache
    app_identities: Mapping[str, str] = field(default_factory=dict)
    sku_name: str = "Premium"  # Premium: private endpoint, zones, persistence options
    family: str = "P"
    capacity: int = 1
    zones: tuple[str, ...] = ("1", "2", "3")
    redis_version: str = "6"
    tags: Mapping[str, str] = field(default_factory=dict)


class AppCache(Construct):
    """One Redis cache for the service, private and passwordless."""

    def __init__(self, scope: Construct, id_: str, props: CacheProps) -> None:
        super().__init__(scope, id_)
        self.redis = RedisCache(
            self,
            "redis",
            name=props.name,
            resource_group_name=props.resource_group_name,
            location=props.location,
            sku_name=props.sku_name,
            family=props.family,
            capacity=props.capacity,
            zones=list(props.zones),
            redis_version=props.redis_version,
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
            tags=dict(props.tags),
        )
        self.endpoint = private_endpoint(
            self,
            "endpoint",
            EndpointProps(
                name=f"{props.name}-pe",
                resource_group_name=props.resource_group_name,
                location=props.location,
                subnet_id=props.endpoint_subnet_id,
                target_id=self.redis.id,
                subresource=SUBRESOURCE,
                dns_zone_id=props.dns_zone_id,
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
            for alias, object_id in sorted(props.app_identities.items())
        ]

    @property
    def hostname(self) -> str:
        """Clients connect to rediss://<hostname>:6380 (TLS)."""
        return self.redis.hostname
