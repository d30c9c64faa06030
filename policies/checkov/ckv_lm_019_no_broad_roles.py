"""CKV_LM_019: Role assignment grants no Owner, Contributor or User Access Administrator."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_019"
NAME = "Role assignment grants no Owner, Contributor or User Access Administrator"
RESOURCES = ("azurerm_role_assignment",)
CONTROLS = ("LM-LEAST-PRIVILEGE",)
WHY = (
    "Owner and Contributor grant control of everything in scope, including reading keys and "
    "deleting the server; User Access Administrator can grant those. Every identity here "
    "needs one narrow role."
)
FIX = (
    "Assign the narrowest built-in role (Key Vault Crypto Service Encryption User on one key, "
    "Reader, the backup role) at the narrowest scope."
)


class NoBroadRoles(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.IAM],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        role = str(conf.get("role_definition_name", [""])[0])
        return CheckResult.FAILED if role in BROAD else CheckResult.PASSED


BROAD = {"Owner", "Contributor", "User Access Administrator"}


check = NoBroadRoles()
