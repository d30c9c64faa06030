"""Replicas: read replicas of the primary, each with its region's key and identity, and a
virtual endpoint so clients keep one read-write and one read-only name across promotions."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import ITerraformDependable, TerraformResourceLifecycle
from cdktf_cdktf_provider_azurerm.postgresql_flexible_server import (
    PostgresqlFlexibleServer,
    PostgresqlFlexibleServerCustomerManagedKey,
    PostgresqlFlexibleServerIdentity,
)
from cdktf_cdktf_provider_azurerm.postgresql_flexible_server_virtual_endpoint import (
    PostgresqlFlexibleServerVirtualEndpoint,
)
from constructs import Construct

from mapper_infra import config
from mapper_infra.constructs.protection import protect
from mapper_infra.constructs.server import azure_managed
from mapper_infra.constructs.site import Site


@dataclass(frozen=True)
class RegionWiring:
    """What a replica in one region (primary or paired) is connected to."""

    location: str
    subnet_id: str
    # A replica encrypts with a key of its own region, used through an identity it holds.
    identity_id: str
    key_id: str
    depends_on: tuple[ITerraformDependable, ...]


@dataclass(frozen=True)
class ReplicasWiring:
    source_server_id: str
    dns_zone_id: str
    regions: dict[str, RegionWiring]  # "primary" / "paired"


class Replicas(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        site: Site,
        env: config.Environment,
        wiring: ReplicasWiring,
    ) -> None:
        super().__init__(scope, id_)
        server = env.server
        self.servers: list[tuple[config.Replica, PostgresqlFlexibleServer]] = []
        for replica in env.replicas:
            region = wiring.regions[replica.region]
            name = env.server_name(replica)
            created = PostgresqlFlexibleServer(
                self,
                name,
                name=name,
                resource_group_name=site.resource_group_name,
                location=region.location,
                create_mode="Replica",
                source_server_id=wiring.source_server_id,
                # At least the primary's compute (validated), the same storage: a replica
                # smaller than its source falls behind.
                sku_name=env.replica_sku(replica).sku_name,
                storage_mb=server.storage_mb,
                storage_tier=server.storage_tier,
                auto_grow_enabled=server.auto_grow,
                zone=replica.zone,
                delegated_subnet_id=region.subnet_id,
                private_dns_zone_id=wiring.dns_zone_id,
                public_network_access_enabled=False,
                identity=PostgresqlFlexibleServerIdentity(
                    type="UserAssigned", identity_ids=[region.identity_id]
                ),
                customer_managed_key=PostgresqlFlexibleServerCustomerManagedKey(
                    key_vault_key_id=region.key_id,
                    primary_user_assigned_identity_id=region.identity_id,
                ),
                lifecycle=TerraformResourceLifecycle(
                    ignore_changes=azure_managed(server.auto_grow, high_availability=False)
                ),
                depends_on=list(region.depends_on),
            )
            protect(self, created, created.id, env.protection)
            self.servers.append((replica, created))
        paired_with = env.endpoint_replica
        if paired_with is not None:
            # The read-write name follows a promotion of the replica it pairs with: the one in
            # the paired region, promoted when the primary region is lost (Environment.
            # endpoint_replica). Creating or updating an endpoint while a replica is still being
            # built fails, so it waits for every replica, not only its partner.
            partner = next(s for r, s in self.servers if r.name == paired_with.name)
            PostgresqlFlexibleServerVirtualEndpoint(
                self,
                "virtual-endpoint",
                name=f"{site.stem}-endpoint",
                source_server_id=wiring.source_server_id,
                replica_server_id=partner.id,
                type="ReadWrite",
                depends_on=[s for _, s in self.servers],
            )
