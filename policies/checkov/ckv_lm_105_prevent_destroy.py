"""CKV_LM_105: Terraform refuses to destroy what cannot be recreated.

Metadata is the module-level literals below; the class is checkov's custom-check format.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_105"
NAME = "Server, replica, Key Vault, key, identity, backup vault and archive set prevent_destroy"
RESOURCES = (
    "azurerm_postgresql_flexible_server",
    "azurerm_key_vault",
    "azurerm_key_vault_key",
    "azurerm_user_assigned_identity",
    "azurerm_data_protection_backup_vault",
    "azurerm_storage_account",
)
CONTROLS = ("LM-RESILIENCE",)
WHY = (
    "A management lock stops people, not Terraform: a plan that deletes or replaces a locked "
    "resource deletes the lock first in the same apply. Servers hold the data, keys decrypt it, "
    "identities are what the keys trust; none comes back by re-applying."
)
FIX = (
    "Keep `[protection] prevent_destroy = true` in the environment file (the constructs call "
    '`protect()` / `refuse_destroy()`); docs/infra.md "Deliberate removal" is the way to '
    "remove one on purpose. Environments rebuilt at will carry a waiver."
)


class PreventDestroy(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        lifecycle = (conf.get("lifecycle") or [{}])[0]
        refused = lifecycle.get("prevent_destroy") == [True]
        return CheckResult.PASSED if refused else CheckResult.FAILED


check = PreventDestroy()
