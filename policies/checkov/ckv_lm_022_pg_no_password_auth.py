"""CKV_LM_022: PostgreSQL server refuses password authentication (Microsoft Entra ID only)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_022"
NAME = "PostgreSQL server refuses password authentication (Microsoft Entra ID only)"
RESOURCES = ("azurerm_postgresql_flexible_server",)
CONTROLS = ("LM-LEAST-PRIVILEGE",)
WHY = (
    "With password authentication on, the server admin's password is a standing credential "
    "that bypasses Entra ID: no MFA, no conditional access, no group-based revocation, and it "
    "works for whoever copied it. Staging and prod sign in with Entra ID tokens only."
)
FIX = (
    "Set password_auth = false in the environment file (the server construct then sets "
    "authentication { password_auth_enabled = false }); a development environment that keeps "
    "a password carries a waiver that says why and when it ends."
)


class PgNoPasswordAuth(BaseResourceCheck):
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
        # azurerm's default for password_auth_enabled is true: unset means passwords work.
        enabled = auth.get("password_auth_enabled", [True])
        return CheckResult.PASSED if enabled == [False] else CheckResult.FAILED


check = PgNoPasswordAuth()
