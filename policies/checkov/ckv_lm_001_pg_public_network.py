"""CKV_LM_001: a PostgreSQL flexible server is not reachable from the public internet.

Metadata is the module-level literals below (read with ``ast`` by the docs generator and the
compliance report, which do not import checkov); the class is checkov's custom-check format.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_001"
NAME = "PostgreSQL flexible server has public network access disabled"
RESOURCES = ("azurerm_postgresql_flexible_server",)
CONTROLS = ("CIS-PG-5.2.7", "LM-NET-PRIVATE")
WHY = (
    "A flexible server with public network access answers on a public endpoint, guarded only by "
    "its firewall rules; one broad rule exposes every tenant's data. Servers here sit in a "
    "delegated subnet with private DNS, so nothing legitimate needs the public endpoint."
)
FIX = (
    "Set `public_network_access_enabled = false` (the server construct does this; a server "
    "built outside it must too) and reach it through the delegated subnet."
)


class PgPublicNetworkDisabled(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.NETWORKING],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        value = conf.get("public_network_access_enabled", [True])
        return CheckResult.PASSED if value == [False] else CheckResult.FAILED


check = PgPublicNetworkDisabled()
