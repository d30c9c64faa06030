"""CKV_LM_008: pgaudit logs DDL and role changes."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_008"
NAME = "pgaudit logs DDL and role changes"
RESOURCES = ("azurerm_postgresql_flexible_server_configuration",)
CONTROLS = ("LM-AUDIT-INTEGRITY",)
WHY = (
    "pgaudit is the server-side record of schema changes and grants; with pgaudit.log empty "
    "or missing ddl and role, a privilege escalation or a dropped policy leaves no entry "
    "outside the database the attacker controls."
)
FIX = (
    "Set pgaudit.log to include ddl and role (the platform uses ddl,role,write); "
    "pgaudit must also be preloaded and created (the cross-layer checks verify that)."
)


class PgPgauditLog(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.LOGGING],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        name = str(conf.get("name", [""])[0])
        if name not in WANTED:
            return CheckResult.UNKNOWN
        value = str(conf.get("value", [""])[0]).strip().lower()
        return CheckResult.PASSED if WANTED[name](value) else CheckResult.FAILED


WANTED = {"pgaudit.log": lambda v: {"ddl", "role"} <= {p.strip() for p in v.split(",")}}


check = PgPgauditLog()
