"""CKV_LM_103: a backup vault's immutability is locked.

Metadata is the module-level literals below; the class is checkov's custom-check format.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_103"
NAME = "Data Protection backup vault immutability is Locked"
RESOURCES = ("azurerm_data_protection_backup_vault",)
CONTROLS = ("LM-BACKUP",)
WHY = (
    "Unlocked immutability can be switched off by anyone with write access to the vault, and "
    "then recovery points can be deleted before their retention ends: the ransomware path. "
    "Locked cannot be undone, which is the point for production data."
)
FIX = (
    'Set `backup.immutability = "Locked"` in the environment file once retention periods are '
    "final (one-way). Environments that still try retention out carry a waiver."
)


class BackupImmutabilityLocked(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        locked = conf.get("immutability") == ["Locked"]
        return CheckResult.PASSED if locked else CheckResult.FAILED


check = BackupImmutabilityLocked()
