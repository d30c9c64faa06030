"""CKV_LM_007: PostgreSQL keeps server logs more than 3 days."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_007"
NAME = "PostgreSQL keeps server logs more than 3 days"
RESOURCES = ("azurerm_postgresql_flexible_server_configuration",)
CONTROLS = ("CIS-PG-5.2.6",)
WHY = (
    "Server logs kept for 3 days or fewer are gone before a weekend incident is noticed; "
    "Azure allows at most 7 days, longer history goes to Log Analytics through the diagnostic "
    "setting."
)
FIX = "Set logfiles.retention_days to a value from 4 to 7."


class PgLogRetention(BaseResourceCheck):
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


WANTED = {"logfiles.retention_days": lambda v: v.isdigit() and 4 <= int(v) <= 7}


check = PgLogRetention()
