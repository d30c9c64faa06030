"""CKV_LM_015: PostgreSQL primary server is zone-redundant highly available."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_015"
NAME = "PostgreSQL primary server is zone-redundant highly available"
RESOURCES = ("azurerm_postgresql_flexible_server",)
CONTROLS = ("LM-RESILIENCE",)
WHY = (
    "Without a zone-redundant standby, a zone outage takes the database down until a restore "
    "or a manual replica promotion; with it, Azure fails over in about a minute with no data "
    "loss. Replicas are exempt: they cannot have HA."
)
FIX = (
    'Set high_availability { mode = "ZoneRedundant" } on the primary (environment file '
    "[server] ha). Environments that accept downtime carry a waiver in policies/waivers.toml."
)


class PgHighAvailability(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if conf.get("create_mode", [""]) == ["Replica"]:
            return CheckResult.PASSED
        ha = conf.get("high_availability", [{}])[0] or {}
        return CheckResult.PASSED if ha.get("mode") == ["ZoneRedundant"] else CheckResult.FAILED


check = PgHighAvailability()
