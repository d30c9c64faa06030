"""Network: a VNet per region with a delegated server subnet, an endpoint subnet and NSGs;
private DNS zones linked to every VNet; peering between the regions.

Outbound from the delegated subnet (docs/infra.md "Outbound access"): the subnet has no implicit
default outbound access, so what the servers need is provided explicitly: a service endpoint for
Azure Storage (WAL archiving and backups stay on the Azure backbone), a NAT gateway for Microsoft
Entra ID (token validation), and NSG rules that allow exactly those service tags and the VNet
(replication, HA) and deny the rest of the Internet.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_azurerm.nat_gateway import NatGateway
from cdktf_cdktf_provider_azurerm.nat_gateway_public_ip_association import (
    NatGatewayPublicIpAssociation,
)
from cdktf_cdktf_provider_azurerm.network_security_group import (
    NetworkSecurityGroup,
    NetworkSecurityGroupSecurityRule,
)
from cdktf_cdktf_provider_azurerm.private_dns_zone import PrivateDnsZone
from cdktf_cdktf_provider_azurerm.private_dns_zone_virtual_network_link import (
    PrivateDnsZoneVirtualNetworkLink,
)
from cdktf_cdktf_provider_azurerm.private_endpoint import (
    PrivateEndpoint,
    PrivateEndpointPrivateDnsZoneGroup,
    PrivateEndpointPrivateServiceConnection,
)
from cdktf_cdktf_provider_azurerm.public_ip import PublicIp
from cdktf_cdktf_provider_azurerm.subnet import (
    Subnet,
    SubnetDelegation,
    SubnetDelegationServiceDelegation,
)
from cdktf_cdktf_provider_azurerm.subnet_nat_gateway_association import (
    SubnetNatGatewayAssociation,
)
from cdktf_cdktf_provider_azurerm.subnet_network_security_group_association import (
    SubnetNetworkSecurityGroupAssociation,
)
from cdktf_cdktf_provider_azurerm.virtual_network import VirtualNetwork
from cdktf_cdktf_provider_azurerm.virtual_network_peering import VirtualNetworkPeering
from constructs import Construct

from mapper_infra import config
from mapper_infra.constructs.site import Site

# PostgreSQL, and the built-in PgBouncer on the same servers.
POSTGRES_PORTS = ["5432", "6432"]


def _allow_from_vnet(name: str, subnet: str, ports: list[str]) -> NetworkSecurityGroupSecurityRule:
    return NetworkSecurityGroupSecurityRule(
        name=name,
        priority=100,
        direction="Inbound",
        access="Allow",
        protocol="Tcp",
        source_address_prefix="VirtualNetwork",
        source_port_range="*",
        destination_address_prefix=subnet,
        destination_port_ranges=ports,
    )


def _allow_out(
    name: str, priority: int, subnet: str, tag: str, ports: list[str]
) -> NetworkSecurityGroupSecurityRule:
    return NetworkSecurityGroupSecurityRule(
        name=name,
        priority=priority,
        direction="Outbound",
        access="Allow",
        protocol="Tcp",
        source_address_prefix=subnet,
        source_port_range="*",
        destination_address_prefix=tag,
        destination_port_ranges=ports,
    )


def server_outbound(subnet: str, location: str) -> list[NetworkSecurityGroupSecurityRule]:
    """What a server in the delegated subnet must reach, and nothing else on the Internet."""
    return [
        # Replication to replicas and the HA standby, in this VNet and the peered one.
        _allow_out("allow-postgres-to-vnet", 100, subnet, "VirtualNetwork", POSTGRES_PORTS),
        # WAL archiving and backups go to Azure Storage in the server's region.
        _allow_out("allow-storage-out", 110, subnet, f"Storage.{location}", ["443"]),
        # Microsoft Entra ID: the server validates the tokens clients log in with.
        _allow_out("allow-entra-id-out", 120, subnet, "AzureActiveDirectory", ["443"]),
        NetworkSecurityGroupSecurityRule(
            name="deny-internet-outbound",
            priority=4000,
            direction="Outbound",
            access="Deny",
            protocol="*",
            source_address_prefix="*",
            source_port_range="*",
            destination_address_prefix="Internet",
            destination_port_range="*",
        ),
    ]


# Azure's defaults already drop Internet inbound; the explicit rule documents the intent and
# survives someone adding a broad allow rule at a lower priority number later.
DENY_INTERNET = NetworkSecurityGroupSecurityRule(
    name="deny-internet-inbound",
    priority=4000,
    direction="Inbound",
    access="Deny",
    protocol="*",
    source_address_prefix="Internet",
    source_port_range="*",
    destination_address_prefix="*",
    destination_port_range="*",
)


class RegionNetwork(Construct):
    """The VNet of one region: servers in a delegated subnet, private endpoints in another."""

    def __init__(self, scope: Construct, id_: str, site: Site, net: config.RegionNetwork) -> None:
        super().__init__(scope, id_)
        name = f"{site.stem}-{site.location}"
        self.vnet = VirtualNetwork(
            self,
            "vnet",
            name=f"{name}-vnet",
            address_space=[net.address_space],
            resource_group_name=site.resource_group_name,
            location=site.location,
        )
        self.server_subnet = Subnet(
            self,
            "server-subnet",
            name="postgres",
            resource_group_name=site.resource_group_name,
            virtual_network_name=self.vnet.name,
            address_prefixes=[net.server_subnet],
            # WAL archives and backups reach Storage over the backbone, not the NAT gateway.
            service_endpoints=["Microsoft.Storage"],
            # Flexible Server with private access needs a subnet delegated to it alone.
            delegation=[
                SubnetDelegation(
                    name="postgres-flexible",
                    service_delegation=SubnetDelegationServiceDelegation(
                        name="Microsoft.DBforPostgreSQL/flexibleServers",
                        actions=["Microsoft.Network/virtualNetworks/subnets/join/action"],
                    ),
                )
            ],
            default_outbound_access_enabled=False,
        )
        self.endpoint_subnet = Subnet(
            self,
            "endpoint-subnet",
            name="private-endpoints",
            resource_group_name=site.resource_group_name,
            virtual_network_name=self.vnet.name,
            address_prefixes=[net.endpoint_subnet],
            # NSGs apply to private endpoints only when network policies are enabled.
            private_endpoint_network_policies="Enabled",
            default_outbound_access_enabled=False,
        )
        server_nsg = NetworkSecurityGroup(
            self,
            "server-nsg",
            name=f"{name}-postgres-nsg",
            security_rule=[
                _allow_from_vnet("allow-postgres-from-vnet", net.server_subnet, POSTGRES_PORTS),
                DENY_INTERNET,
                *server_outbound(net.server_subnet, site.location),
            ],
            resource_group_name=site.resource_group_name,
            location=site.location,
        )
        endpoint_nsg = NetworkSecurityGroup(
            self,
            "endpoint-nsg",
            name=f"{name}-endpoints-nsg",
            security_rule=[
                _allow_from_vnet("allow-https-from-vnet", net.endpoint_subnet, ["443"]),
                DENY_INTERNET,
            ],
            resource_group_name=site.resource_group_name,
            location=site.location,
        )
        self._nat(site, name)
        for name, subnet, nsg in (
            ("server", self.server_subnet, server_nsg),
            ("endpoint", self.endpoint_subnet, endpoint_nsg),
        ):
            SubnetNetworkSecurityGroupAssociation(
                self, f"{name}-nsg-link", subnet_id=subnet.id, network_security_group_id=nsg.id
            )

    def _nat(self, site: Site, name: str) -> None:
        """Explicit outbound for the server subnet (Entra ID), instead of default outbound."""
        address = PublicIp(
            self,
            "nat-ip",
            name=f"{name}-nat-ip",
            allocation_method="Static",
            sku="Standard",
            zones=["1", "2", "3"],
            resource_group_name=site.resource_group_name,
            location=site.location,
        )
        gateway = NatGateway(
            self,
            "nat",
            name=f"{name}-nat",
            sku_name="Standard",
            idle_timeout_in_minutes=10,
            resource_group_name=site.resource_group_name,
            location=site.location,
        )
        NatGatewayPublicIpAssociation(
            self, "nat-ip-link", nat_gateway_id=gateway.id, public_ip_address_id=address.id
        )
        SubnetNatGatewayAssociation(
            self, "server-nat-link", subnet_id=self.server_subnet.id, nat_gateway_id=gateway.id
        )


class PrivateDns(Construct):
    """Zones for the servers and the Key Vault, Blob, Redis and Grafana endpoints, resolvable
    from every VNet."""

    def __init__(
        self, scope: Construct, id_: str, site: Site, vnets: tuple[VirtualNetwork, ...]
    ) -> None:
        super().__init__(scope, id_)
        self.zones: dict[str, PrivateDnsZone] = {}
        # zone key (postgres, vault, blob) -> its links to every VNet
        self.links: dict[str, list[PrivateDnsZoneVirtualNetworkLink]] = {}
        names = {
            "postgres": f"{site.stem}.private.postgres.database.azure.com",
            "vault": "privatelink.vaultcore.azure.net",
            "blob": "privatelink.blob.core.windows.net",
            "redis": "privatelink.redis.cache.windows.net",
            "grafana": "privatelink.grafana.azure.com",
        }
        for key, name in names.items():
            zone = PrivateDnsZone(
                self,
                f"{key}-zone",
                name=name,
                resource_group_name=site.resource_group_name,
            )
            self.zones[key] = zone
            self.links[key] = []
            for index, vnet in enumerate(vnets):
                link = PrivateDnsZoneVirtualNetworkLink(
                    self,
                    f"{key}-link-{index}",
                    name=f"{key}-link-{index}",
                    private_dns_zone_name=zone.name,
                    resource_group_name=site.resource_group_name,
                    virtual_network_id=vnet.id,
                    registration_enabled=False,
                )
                self.links[key].append(link)


@dataclass(frozen=True)
class EndpointProps:
    name: str
    subnet_id: str
    target_id: str
    subresource: str  # "vault", "blob"
    dns_zone_id: str


def private_endpoint(
    scope: Construct, id_: str, site: Site, props: EndpointProps
) -> PrivateEndpoint:
    """A private endpoint whose address is published in the matching private DNS zone."""
    return PrivateEndpoint(
        scope,
        id_,
        name=props.name,
        resource_group_name=site.resource_group_name,
        location=site.location,
        subnet_id=props.subnet_id,
        private_service_connection=PrivateEndpointPrivateServiceConnection(
            name=props.subresource,
            private_connection_resource_id=props.target_id,
            subresource_names=[props.subresource],
            is_manual_connection=False,
        ),
        private_dns_zone_group=PrivateEndpointPrivateDnsZoneGroup(
            name=props.subresource, private_dns_zone_ids=[props.dns_zone_id]
        ),
    )


def peer(scope: Construct, resource_group_name: str, a: VirtualNetwork, b: VirtualNetwork) -> None:
    """Peer two VNets both ways: cross-region replicas and geo keys sit in the other one."""
    for id_, local, remote in (("peer-ab", a, b), ("peer-ba", b, a)):
        VirtualNetworkPeering(
            scope,
            id_,
            name=f"to-{id_[-1]}",
            resource_group_name=resource_group_name,
            virtual_network_name=local.name,
            remote_virtual_network_id=remote.id,
            allow_forwarded_traffic=False,
            allow_gateway_transit=False,
        )
