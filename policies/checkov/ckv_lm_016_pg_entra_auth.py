"""CKV_LM_016: PostgreSQL server accepts Microsoft Entra ID authentication."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_016"
NAME = "PostgreSQL server accepts Microsoft Entra ID authentication"
RESOURCES = ("azurerm_postgresql_flexible_server",)
CONTROLS = ("LM-LEAST-PRIVILEGE",)
WHY = (
    "Entra ID sign-in gives short-lived tokens, group-based admin rights and central "
    "revocation; a server with passwords only depends on secrets that are copied and never "
    "expire."
)
FIX = (
    "Set authentication { active_directory_auth_enabled = true } (the server construct does) "
    "and an Entra group as administrator."
)


class PgEntraAuth(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.IAM],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if conf.get("create_mode", [""]) == ["Replica"]:
            return CheckResult.PASSED  # a replica takes its authentication from its source
        auth = conf.get("authentication", [{}])[0] or {}
        enabled = auth.get("active_directory_auth_enabled", [False])
        return CheckResult.PASSED if enabled == [True] else CheckResult.FAILED


check = PgEntraAuth()
