"""CKV_LM_002: PostgreSQL flexible server firewall rules admit no Azure-wide or broad range."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_002"
NAME = "PostgreSQL flexible server firewall rules admit no Azure-wide or broad range"
RESOURCES = ("azurerm_postgresql_flexible_server_firewall_rule",)
CONTROLS = ("CIS-PG-5.2.7", "LM-NET-PRIVATE")
WHY = (
    "A firewall rule opens the public endpoint to an address range; 0.0.0.0 admits every Azure "
    "customer's services and a wide range admits the internet. Servers here are reached only "
    "through the delegated subnet, so a rule wider than one /24 is a mistake or a shortcut."
)
FIX = (
    "Delete the rule and reach the server through the virtual network (a peered network or the "
    "private endpoint subnet); if an address must be admitted, admit that one address."
)


class Check002(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.NETWORKING],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        start = _address(conf.get("start_ip_address", [""])[0])
        end = _address(conf.get("end_ip_address", [""])[0])
        if start is None or end is None or start == 0 or end - start >= MAX_ADDRESSES:
            return CheckResult.FAILED
        return CheckResult.PASSED


check = Check002()


MAX_ADDRESSES = 256


def _address(text: Any) -> int | None:
    """An IPv4 address as an integer; None for anything else (a reference, a typo)."""
    parts = str(text).split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return None
    value = 0
    for part in parts:
        value = value * 256 + int(part)
    return value
