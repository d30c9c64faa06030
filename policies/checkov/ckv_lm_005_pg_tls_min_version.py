"""CKV_LM_005: PostgreSQL server accepts TLS 1.2 or newer only."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_005"
NAME = "PostgreSQL server accepts TLS 1.2 or newer only"
RESOURCES = ("azurerm_postgresql_flexible_server_configuration",)
CONTROLS = ("LM-TLS",)
WHY = (
    "TLS 1.0 and 1.1 have known weaknesses and are deprecated by every major client; a server "
    "that still offers them lets a downgrade attack pick them."
)
FIX = (
    "Set ssl_min_protocol_version to TLSv1.2 or TLSv1.3 (prod uses TLSv1.3 through its "
    "environment file)."
)


class PgTlsMinVersion(BaseResourceCheck):
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


WANTED = {"ssl_min_protocol_version": lambda v: v in {"tlsv1.2", "tlsv1.3"}}


check = PgTlsMinVersion()
