"""CKV_LM_014: PostgreSQL server encrypts with a customer-managed key, geo backups too."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_014"
NAME = "PostgreSQL server encrypts with a customer-managed key, geo backups too"
RESOURCES = ("azurerm_postgresql_flexible_server",)
CONTROLS = ("LM-ENCRYPTION-CMK",)
WHY = (
    "With a customer-managed key the platform can revoke access to the data and its backups "
    "by disabling the key, and key use is logged in the vault; a server on Microsoft-managed "
    "keys gives neither. A geo-redundant backup needs its own key in the paired region or it "
    "is restored unencrypted by our key."
)
FIX = (
    "Set customer_managed_key { key_vault_key_id, primary_user_assigned_identity_id } with "
    "the identity in identity.identity_ids; with geo_redundant_backup_enabled also "
    "geo_backup_key_vault_key_id and geo_backup_user_assigned_identity_id."
)


class PgCmk(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        cmk = conf.get("customer_managed_key", [{}])[0] or {}
        if not cmk.get("key_vault_key_id") or not cmk.get("primary_user_assigned_identity_id"):
            return CheckResult.FAILED
        if conf.get("geo_redundant_backup_enabled", [False]) == [True] and not (
            cmk.get("geo_backup_key_vault_key_id")
            and cmk.get("geo_backup_user_assigned_identity_id")
        ):
            return CheckResult.FAILED
        return CheckResult.PASSED


check = PgCmk()
