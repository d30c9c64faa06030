"""CKV_LM_011: Key Vault uses Azure RBAC for data-plane access."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_011"
NAME = "Key Vault uses Azure RBAC for data-plane access"
RESOURCES = ("azurerm_key_vault",)
CONTROLS = ("CIS-KV-8.6", "LM-LEAST-PRIVILEGE")
WHY = (
    "Access policies grant per-vault permissions that are invisible to role reviews and "
    "cannot be scoped to one key; RBAC lets each identity get one role on one key, reviewed "
    "with all other roles."
)
FIX = (
    "Set rbac_authorization_enabled = true and grant key roles on the key "
    "(resource_versionless_id), not on the vault."
)


class KvRbac(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.IAM],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return (
            CheckResult.PASSED
            if conf.get("rbac_authorization_enabled", [False]) == [True]
            else CheckResult.FAILED
        )


check = KvRbac()
