"""CKV_LM_020: Log Analytics workspace refuses shared-key (local) authentication."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_020"
NAME = "Log Analytics workspace refuses shared-key (local) authentication"
RESOURCES = ("azurerm_log_analytics_workspace",)
CONTROLS = ("LM-AUDIT-INTEGRITY",)
WHY = (
    "The workspace holds the diagnostic logs an investigation relies on; its shared keys let "
    "anyone holding them write forged entries or read every log, outside Entra ID and its "
    "audit trail."
)
FIX = "Set local_authentication_enabled = false (the monitoring construct does)."


class LawEntraOnly(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.LOGGING],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return (
            CheckResult.PASSED
            if conf.get("local_authentication_enabled", [True]) == [False]
            else CheckResult.FAILED
        )


check = LawEntraOnly()
