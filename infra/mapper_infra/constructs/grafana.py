"""Azure Managed Grafana for the environment's dashboards (``infra/dashboards/<env>/``):
reachable through a private endpoint only, no API keys, Entra roles for the admin group (Grafana
Admin) and the readers' group (Grafana Viewer), and its own identity allowed to read Azure
Monitor metrics of the resource group (the built-in Azure Monitor data source).

Terraform's azurerm provider does not manage dashboards inside Grafana; the deploy pipeline
imports the committed JSON after the apply (``az grafana dashboard import``, docs/infra.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_azurerm.dashboard_grafana import (
    DashboardGrafana,
    DashboardGrafanaIdentity,
)
from cdktf_cdktf_provider_azurerm.role_assignment import RoleAssignment
from constructs import Construct

from mapper_infra.constructs.network import EndpointProps, private_endpoint
from mapper_infra.constructs.site import Site

DNS_ZONE = "privatelink.grafana.azure.com"
SUBRESOURCE = "grafana"
GRAFANA_MAJOR = "11"


@dataclass(frozen=True)
class DashboardsWiring:
    name: str  # 2-23 characters, unique in the region
    resource_group_id: str  # what the data source may read
    endpoint_subnet_id: str
    dns_zone_id: str  # the privatelink.grafana.azure.com zone
    admin_group_id: str  # Entra object id: Grafana Admin
    viewer_group_id: str  # Entra object id: Grafana Viewer


class Dashboards(Construct):
    def __init__(self, scope: Construct, id_: str, site: Site, wiring: DashboardsWiring) -> None:
        super().__init__(scope, id_)
        self.grafana = DashboardGrafana(
            self,
            "grafana",
            name=wiring.name,
            resource_group_name=site.resource_group_name,
            location=site.location,
            grafana_major_version=GRAFANA_MAJOR,
            sku="Standard",
            public_network_access_enabled=False,
            api_key_enabled=False,
            zone_redundancy_enabled=True,
            identity=DashboardGrafanaIdentity(type="SystemAssigned"),
        )
        self.endpoint = private_endpoint(
            self,
            "endpoint",
            site,
            EndpointProps(
                name=f"{wiring.name}-pe",
                subnet_id=wiring.endpoint_subnet_id,
                target_id=self.grafana.id,
                subresource=SUBRESOURCE,
                dns_zone_id=wiring.dns_zone_id,
            ),
        )
        RoleAssignment(
            self,
            "monitoring-reader",
            scope=wiring.resource_group_id,
            role_definition_name="Monitoring Reader",
            principal_id=self.grafana.identity.principal_id,
            principal_type="ServicePrincipal",
        )
        for key, role, group in (
            ("admins", "Grafana Admin", wiring.admin_group_id),
            ("viewers", "Grafana Viewer", wiring.viewer_group_id),
        ):
            RoleAssignment(
                self,
                key,
                scope=self.grafana.id,
                role_definition_name=role,
                principal_id=group,
                principal_type="Group",
            )
