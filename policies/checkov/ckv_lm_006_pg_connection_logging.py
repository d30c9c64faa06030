"""CKV_LM_006: PostgreSQL logs checkpoints and sessions, and throttles connections."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_006"
NAME = "PostgreSQL logs checkpoints, connections and disconnections and throttles connections"
RESOURCES = ("azurerm_postgresql_flexible_server_configuration",)
CONTROLS = ("CIS-PG-5.2.2", "CIS-PG-5.2.3", "CIS-PG-5.2.4", "CIS-PG-5.2.5", "LM-AUDIT-INTEGRITY")
WHY = (
    "Connection and disconnection logs say who used the database and for how long; checkpoint "
    "logs explain I/O stalls; connection throttling slows password guessing. Without them an "
    "incident leaves no trail."
)
FIX = (
    "Keep log_checkpoints, log_connections, log_disconnections and connection_throttle.enable "
    "at on (the tuner's fixed parameters)."
)


class PgConnectionLogging(BaseResourceCheck):
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


def _on(value: str) -> bool:
    return value == "on"


WANTED = {
    name: _on
    for name in (
        "log_checkpoints",
        "log_connections",
        "log_disconnections",
        "connection_throttle.enable",
    )
}


check = PgConnectionLogging()
