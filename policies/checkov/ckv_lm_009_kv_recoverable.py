"""CKV_LM_009: Key Vault is recoverable: purge protection on, soft delete at least 7 days."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_009"
NAME = "Key Vault is recoverable: purge protection on, soft delete at least 7 days"
RESOURCES = ("azurerm_key_vault",)
CONTROLS = ("CIS-KV-8.5", "LM-ENCRYPTION-CMK")
WHY = (
    "The vault holds the keys that encrypt the database and its backups; a vault deleted and "
    "purged, by mistake or by an attacker, makes every byte encrypted with them unreadable "
    "for good. Purge protection makes deletion reversible for the retention period."
)
FIX = (
    "Set purge_protection_enabled = true and soft_delete_retention_days between 7 and 90 (the "
    "keys construct does)."
)


class KvRecoverable(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if conf.get("purge_protection_enabled", [False]) != [True]:
            return CheckResult.FAILED
        days = conf.get("soft_delete_retention_days", [90])[0]
        return CheckResult.PASSED if isinstance(days, int) and days >= 7 else CheckResult.FAILED


check = KvRecoverable()
