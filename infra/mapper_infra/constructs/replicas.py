"""Replicas: read replicas of the primary, each with its region's key and identity, and a
virtual endpoint so clients keep one read-write and one read-only name across promotions."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_azurerm.postgresql_flexible_server import (
    PostgresqlFlexibleServer,
    PostgresqlFlexibleServerCustomerManagedKey,
    PostgresqlFlexibleServerIdentity,
)
from cdktf_cdktf_provider_azurerm.postgresql_flexible_server_virtual_endpoint import (
    PostgresqlFlexibleServerVirtualEndpoint,
)
from constructs import Construct


@dataclass(frozen=True)
class ReplicaSpec:
    name: str
    location: str
    zone: str
    subnet_id: str
    dns_zone_id: str
    # A replica encrypts with a key of its own region, used through an identity it holds.
    identity_id: str
    key_id: str
    depends_on: tuple[ITerraformDependable, ...]


@dataclass(frozen=True)
class ReplicasProps:
    resource_group_name: str
    source_server_id: str
    sku_name: str
    storage_mb: int
    storage_tier: str
    auto_grow: bool
    endpoint_name: str
    replicas: tuple[ReplicaSpec, ...]


class Replicas(Construct):
    def __init__(self, scope: Construct, id_: str, props: ReplicasProps) -> None:
        super().__init__(scope, id_)
        self.servers: list[tuple[ReplicaSpec, PostgresqlFlexibleServer]] = []
        for spec in props.replicas:
            server = PostgresqlFlexibleServer(
                self,
                spec.name,
                name=spec.name,
                resource_group_name=props.resource_group_name,
                location=spec.location,
                create_mode="Replica",
                source_server_id=props.source_server_id,
                # A replica must match its source's compute and storage to keep up with it.
                sku_name=props.sku_name,
                storage_mb=props.storage_mb,
                storage_tier=props.storage_tier,
                auto_grow_enabled=props.auto_grow,
                zone=spec.zone,
                delegated_subnet_id=spec.subnet_id,
                private_dns_zone_id=spec.dns_zone_id,
                public_network_access_enabled=False,
                identity=PostgresqlFlexibleServerIdentity(
                    type="UserAssigned", identity_ids=[spec.identity_id]
                ),
                customer_managed_key=PostgresqlFlexibleServerCustomerManagedKey(
                    key_vault_key_id=spec.key_id,
                    primary_user_assigned_identity_id=spec.identity_id,
                ),
                depends_on=list(spec.depends_on),
            )
            self.servers.append((spec, server))
        if self.servers:
            # The endpoint pair follows the first (same-region) replica: after a promotion the
            # read-write name points at it without a client change.
            PostgresqlFlexibleServerVirtualEndpoint(
                self,
                "virtual-endpoint",
                name=props.endpoint_name,
                source_server_id=props.source_server_id,
                replica_server_id=self.servers[0][1].id,
                type="ReadWrite",
            )
