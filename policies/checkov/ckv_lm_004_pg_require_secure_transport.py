"""CKV_LM_004: PostgreSQL server parameter require_secure_transport is on."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_004"
NAME = "PostgreSQL server parameter require_secure_transport is on"
RESOURCES = ("azurerm_postgresql_flexible_server_configuration",)
CONTROLS = ("CIS-PG-5.2.1", "LM-TLS")
WHY = (
    "With require_secure_transport off the server accepts unencrypted connections: passwords, "
    "tokens and tenant rows cross the network in clear text."
)
FIX = (
    "Leave require_secure_transport at on (the tuner's fixed parameters set it; an "
    "environment file must not override it)."
)


class PgRequireSecureTransport(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        name = str(conf.get("name", [""])[0])
        if name not in WANTED:
            return CheckResult.UNKNOWN
        value = str(conf.get("value", [""])[0]).strip().lower()
        return CheckResult.PASSED if WANTED[name](value) else CheckResult.FAILED


WANTED = {"require_secure_transport": lambda v: v == "on"}


check = PgRequireSecureTransport()
