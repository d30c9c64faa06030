"""CKV_LM_102: a backup vault keeps deleted backups (soft delete on, stated).

Metadata is the module-level literals below; the class is checkov's custom-check format.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_102"
NAME = "Data Protection backup vault has soft delete On or AlwaysOn"
RESOURCES = ("azurerm_data_protection_backup_vault",)
CONTROLS = ("LM-BACKUP",)
WHY = (
    "Without soft delete, whoever can delete a backup instance (a compromised pipeline, a "
    "mistaken script) deletes every recovery point at once; with it they stay recoverable for "
    "the retention period. Left unset it depends on the provider's default."
)
FIX = (
    "Set `soft_delete` to `On` or `AlwaysOn` (`backup.soft_delete` in the environment file; "
    "`Off` is not offered there)."
)


class BackupSoftDelete(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        value = conf.get("soft_delete", [None])
        return CheckResult.PASSED if value in (["On"], ["AlwaysOn"]) else CheckResult.FAILED


check = BackupSoftDelete()
