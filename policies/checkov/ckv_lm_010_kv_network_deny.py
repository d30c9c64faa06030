"""CKV_LM_010: Key Vault refuses public network access and denies by default."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_010"
NAME = "Key Vault refuses public network access and denies by default"
RESOURCES = ("azurerm_key_vault",)
CONTROLS = ("CIS-KV-8.7", "LM-NET-PRIVATE")
WHY = (
    "A vault reachable from the internet exposes key operations to anyone holding a stolen "
    "token; with network_acls defaulting to Allow, public access is one flag away. Here "
    "vaults are reached through private endpoints only."
)
FIX = (
    'Set public_network_access_enabled = false and network_acls { default_action = "Deny" }; '
    "reach the vault through its private endpoint."
)


class KvNetworkDeny(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.NETWORKING],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if conf.get("public_network_access_enabled", [True]) != [False]:
            return CheckResult.FAILED
        acls = conf.get("network_acls", [{}])[0] or {}
        default = acls.get("default_action", ["Allow"]) if isinstance(acls, dict) else ["Allow"]
        return CheckResult.PASSED if default == ["Deny"] else CheckResult.FAILED


check = KvNetworkDeny()
