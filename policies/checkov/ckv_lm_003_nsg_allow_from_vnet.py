"""CKV_LM_003: Network security group allow rules admit only the virtual network."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_003"
NAME = "Network security group allow rules admit only the virtual network"
RESOURCES = ("azurerm_network_security_group",)
CONTROLS = ("LM-NET-PRIVATE",)
WHY = (
    "The subnets of the server and of the private endpoints carry network security groups; an "
    'allow rule whose source is an address range or "*" instead of the VirtualNetwork tag lets '
    "traffic from outside the peered networks reach PostgreSQL and the vault endpoints."
)
FIX = (
    'Give every inbound allow rule source_address_prefix = "VirtualNetwork" (the network construct '
    "does); traffic from elsewhere comes in through a peering, not an address range."
)


class Check003(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.NETWORKING],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        for rule in _rules(conf):
            if str(rule.get("access", [""])[0]).lower() != "allow":
                continue
            if str(rule.get("direction", ["Inbound"])[0]).lower() != "inbound":
                continue
            prefixes = rule.get("source_address_prefixes", [[]])[0] or []
            source = rule.get("source_address_prefix", [None])[0]
            if prefixes or source != "VirtualNetwork":
                return CheckResult.FAILED
        return CheckResult.PASSED


check = Check003()


def _rules(conf: dict[str, Any]) -> list[dict[str, Any]]:
    rules = conf.get("security_rule", [])
    # checkov wraps each block in a list; a JSON list of blocks may arrive nested once more.
    flat: list[dict[str, Any]] = []
    for rule in rules:
        flat.extend(rule if isinstance(rule, list) else [rule])
    return [r for r in flat if isinstance(r, dict)]
