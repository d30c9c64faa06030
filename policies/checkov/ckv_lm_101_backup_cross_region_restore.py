"""CKV_LM_101: a geo-redundant backup vault can restore in the paired region.

Metadata is the module-level literals below; the class is checkov's custom-check format.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_101"
NAME = "Geo-redundant Data Protection backup vault has cross-region restore enabled"
RESOURCES = ("azurerm_data_protection_backup_vault",)
CONTROLS = ("LM-BACKUP",)
WHY = (
    "A geo-redundant vault pays for a copy in the paired region, but without cross-region "
    "restore that copy can be restored only once Microsoft fails the whole region over: while "
    "the primary region is down, the long-term backups are out of reach."
)
FIX = (
    "Set `cross_region_restore_enabled = true` on every vault with `redundancy = "
    '"GeoRedundant"` (`constructs/backup.py` derives it from `backup.vault_redundancy`).'
)


class BackupCrossRegionRestore(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        if conf.get("redundancy") != ["GeoRedundant"]:
            return CheckResult.PASSED
        enabled = conf.get("cross_region_restore_enabled") == [True]
        return CheckResult.PASSED if enabled else CheckResult.FAILED


check = BackupCrossRegionRestore()
