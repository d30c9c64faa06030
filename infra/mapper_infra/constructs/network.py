"""Network: a VNet per region with a delegated server subnet, an endpoint subnet and NSGs;
private DNS zones linked to every VNet; peering between the regions."""

from __future__ import annotations

from dataclasses import dataclass

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
from cdktf_cdktf_provider_azurerm.subnet import (
    Subnet,
    SubnetDelegation,
    SubnetDelegationServiceDelegation,
)
from cdktf_cdktf_provider_azurerm.subnet_network_security_group_association import (
    SubnetNetworkSecurityGroupAssociation,
)
from cdktf_cdktf_provider_azurerm.virtual_network import VirtualNetwork
from cdktf_cdktf_provider_azurerm.virtual_network_peering import VirtualNetworkPeering
from constructs import Construct

POSTGRES_PORT = "5432"


@dataclass(frozen=True)
class NetworkProps:
    name: str
    resource_group_name: str
    location: str
    address_space: str
    server_subnet: str
    endpoint_subnet: str


def _allow_from_vnet(name: str, subnet: str, port: str) -> NetworkSecurityGroupSecurityRule:
    return NetworkSecurityGroupSecurityRule(
        name=name,
        priority=100,
        direction="Inbound",
        access="Allow",
        protocol="Tcp",
        source_address_prefix="VirtualNetwork",
        source_port_range="*",
        destination_address_prefix=subnet,
        destination_port_range=port,
    )


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

    def __init__(self, scope: Construct, id_: str, props: NetworkProps) -> None:
        super().__init__(scope, id_)
        self.vnet = VirtualNetwork(
            self,
            "vnet",
            name=f"{props.name}-vnet",
            address_space=[props.address_space],
            resource_group_name=props.resource_group_name,
            location=props.location,
        )
        self.server_subnet = Subnet(
            self,
            "server-subnet",
            name="postgres",
            resource_group_name=props.resource_group_name,
            virtual_network_name=self.vnet.name,
            address_prefixes=[props.server_subnet],
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
            resource_group_name=props.resource_group_name,
            virtual_network_name=self.vnet.name,
            address_prefixes=[props.endpoint_subnet],
            # NSGs apply to private endpoints only when network policies are enabled.
            private_endpoint_network_policies="Enabled",
            default_outbound_access_enabled=False,
        )
        server_nsg = NetworkSecurityGroup(
            self,
            "server-nsg",
            name=f"{props.name}-postgres-nsg",
            security_rule=[
                _allow_from_vnet("allow-postgres-from-vnet", props.server_subnet, POSTGRES_PORT),
                DENY_INTERNET,
            ],
            resource_group_name=props.resource_group_name,
            location=props.location,
        )
        endpoint_nsg = NetworkSecurityGroup(
            self,
            "endpoint-nsg",
            name=f"{props.name}-endpoints-nsg",
            security_rule=[
                _allow_from_vnet("allow-https-from-vnet", props.endpoint_subnet, "443"),
                DENY_INTERNET,
            ],
            resource_group_name=props.resource_group_name,
            location=props.location,
        )
        for name, subnet, nsg in (
            ("server", self.server_subnet, server_nsg),
            ("endpoint", self.endpoint_subnet, endpoint_nsg),
        ):
            SubnetNetworkSecurityGroupAssociation(
                self, f"{name}-nsg-link", subnet_id=subnet.id, network_security_group_id=nsg.id
            )


@dataclass(frozen=True)
class PrivateDnsProps:
    resource_group_name: str
    postgres_zone: str  # e.g. lmdb-prod.private.postgres.database.azure.com
    vnets: tuple[VirtualNetwork, ...]


class PrivateDns(Construct):
    """Zones for the servers, Key Vault and Blob endpoints, resolvable from every VNet."""

    def __init__(self, scope: Construct, id_: str, props: PrivateDnsProps) -> None:
        super().__init__(scope, id_)
        self.zones: dict[str, PrivateDnsZone] = {}
        self.links: list[PrivateDnsZoneVirtualNetworkLink] = []
        names = {
            "postgres": props.postgres_zone,
            "vault": "privatelink.vaultcore.azure.net",
            "blob": "privatelink.blob.core.windows.net",
        }
        for key, name in names.items():
            zone = PrivateDnsZone(
                self,
                f"{key}-zone",
                name=name,
                resource_group_name=props.resource_group_name,
            )
            self.zones[key] = zone
            for index, vnet in enumerate(props.vnets):
                link = PrivateDnsZoneVirtualNetworkLink(
                    self,
                    f"{key}-link-{index}",
                    name=f"{key}-link-{index}",
                    private_dns_zone_name=zone.name,
                    resource_group_name=props.resource_group_name,
                    virtual_network_id=vnet.id,
                    registration_enabled=False,
                )
                self.links.append(link)


@dataclass(frozen=True)
class EndpointProps:
    name: str
    resource_group_name: str
    location: str
    subnet_id: str
    target_id: str
    subresource: str  # "vault", "blob"
    dns_zone_id: str


def private_endpoint(scope: Construct, id_: str, props: EndpointProps) -> PrivateEndpoint:
    """A private endpoint whose address is published in the matching private DNS zone."""
    return PrivateEndpoint(
        scope,
        id_,
        name=props.name,
        resource_group_name=props.resource_group_name,
        location=props.location,
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
