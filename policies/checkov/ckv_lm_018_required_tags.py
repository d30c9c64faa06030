"""CKV_LM_018: Resource carries the environment, owner, cost-center and data-classification tags."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_018"
NAME = "Resource carries the environment, owner, cost-center and data-classification tags"
RESOURCES = (
    "azurerm_resource_group",
    "azurerm_virtual_network",
    "azurerm_network_security_group",
    "azurerm_private_dns_zone",
    "azurerm_private_endpoint",
    "azurerm_key_vault",
    "azurerm_key_vault_key",
    "azurerm_user_assigned_identity",
    "azurerm_postgresql_flexible_server",
    "azurerm_log_analytics_workspace",
    "azurerm_monitor_action_group",
    "azurerm_monitor_metric_alert",
    "azurerm_data_protection_backup_vault",
    "azurerm_storage_account",
)
CONTROLS = ("LM-TAGGING",)
WHY = (
    "Tags are how cost reports, the on-call owner lookup and data-classification policies "
    "find a resource; an untagged server or key belongs to nobody and escapes the restricted- "
    "data rules."
)
FIX = (
    "Tag through the stack's tagging aspect (infra/mapper_infra/tagging.py), which sets all "
    "four from the environment file; do not set tags by hand on a resource."
)


class RequiredTags(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        tags = conf.get("tags", [{}])[0] or {}
        present = {key for key, value in tags.items() if isinstance(value, str) and value}
        return CheckResult.PASSED if present >= REQUIRED else CheckResult.FAILED


REQUIRED = {"environment", "owner", "cost-center", "data-classification"}


check = RequiredTags()
