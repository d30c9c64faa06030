"""CKV_LM_100: a flexible server (primary or replica) ignores what Azure changes by itself.

Metadata is the module-level literals below (read with ``ast`` by tools that do not import
checkov); the class is checkov's custom-check format.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_100"
NAME = "PostgreSQL flexible server ignores the zone, standby zone and autogrown storage"
RESOURCES = ("azurerm_postgresql_flexible_server",)
CONTROLS = ("LM-RESILIENCE",)
WHY = (
    "Azure changes some attributes by itself: a failover swaps the zones of primary and standby, "
    "autogrow enlarges the disk (and may raise its tier). Without ignore_changes the next plan "
    "moves the zone back or shrinks storage_mb, which azurerm can only do by replacing the "
    "server, and with it every replica: data loss by plan."
)
FIX = (
    "Put `zone`, `high_availability[0].standby_availability_zone` (with HA) and `storage_mb`, "
    "`storage_tier` (with autogrow) in `lifecycle.ignore_changes`, as "
    "`constructs/server.py` `azure_managed()` does for servers and replicas."
)


def _ignored(conf: dict[str, list[Any]]) -> set[str]:
    lifecycle = (conf.get("lifecycle") or [{}])[0]
    ignored = (lifecycle.get("ignore_changes") or [[]])[0]
    return set(ignored) if isinstance(ignored, list) else {str(ignored)}


class PgIgnoresAzureManaged(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        ignored = _ignored(conf)
        if "all" in ignored:
            return CheckResult.PASSED
        wanted = {"zone"}
        if conf.get("high_availability"):
            wanted.add("high_availability[0].standby_availability_zone")
        if conf.get("auto_grow_enabled") == [True]:
            wanted |= {"storage_mb", "storage_tier"}
        return CheckResult.PASSED if wanted <= ignored else CheckResult.FAILED


check = PgIgnoresAzureManaged()
