"""CKV_LM_106: a subnet delegated to flexible servers provides their outbound explicitly.

Metadata is the module-level literals below; the class is checkov's custom-check format.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_106"
NAME = "Flexible server subnet without default outbound has a Microsoft.Storage service endpoint"
RESOURCES = ("azurerm_subnet",)
CONTROLS = ("LM-NET-PRIVATE",)
WHY = (
    "With default outbound access off, a server in the delegated subnet reaches Azure Storage "
    "(WAL archiving, backups) only through what the network provides; without a service "
    "endpoint (or a NAT gateway) archiving fails, WAL piles up and the disk fills."
)
FIX = (
    'Give the delegated subnet `service_endpoints = ["Microsoft.Storage"]` and a NAT gateway '
    'for Entra ID (`constructs/network.py`; docs/infra.md "Outbound access").'
)
DELEGATION = "Microsoft.DBforPostgreSQL/flexibleServers"


def _delegated(conf: dict[str, list[Any]]) -> bool:
    for delegation in conf.get("delegation") or []:
        for service in (delegation or {}).get("service_delegation") or []:
            if (service or {}).get("name") == [DELEGATION]:
                return True
    return False


class ServerSubnetOutbound(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.NETWORKING],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        if not _delegated(conf) or conf.get("default_outbound_access_enabled") != [False]:
            return CheckResult.PASSED
        endpoints = (conf.get("service_endpoints") or [[]])[0]
        ok = isinstance(endpoints, list) and "Microsoft.Storage" in endpoints
        return CheckResult.PASSED if ok else CheckResult.FAILED


check = ServerSubnetOutbound()
