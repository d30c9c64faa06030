"""CKV_LM_017: Storage account is private, TLS 1.2 and Entra-only."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_017"
NAME = "Storage account is private, TLS 1.2 and Entra-only"
RESOURCES = ("azurerm_storage_account",)
CONTROLS = ("LM-NET-PRIVATE", "LM-TLS", "LM-AUDIT-INTEGRITY")
WHY = (
    "The archive account holds exported audit logs and tenant exports; a public endpoint, "
    "anonymous blob access, old TLS or shared keys (which bypass Entra ID and never expire) "
    "would let them leak or be rewritten."
)
FIX = (
    'Set public_network_access_enabled = false, network_rules { default_action = "Deny" }, '
    'allow_nested_items_to_be_public = false, min_tls_version = "TLS1_2" and '
    "shared_access_key_enabled = false."
)


class StoragePrivate(BaseResourceCheck):
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
        if conf.get("allow_nested_items_to_be_public", [True]) != [False]:
            return CheckResult.FAILED
        if conf.get("shared_access_key_enabled", [True]) != [False]:
            return CheckResult.FAILED
        if conf.get("min_tls_version", ["TLS1_2"]) != ["TLS1_2"]:
            return CheckResult.FAILED
        rules = conf.get("network_rules", [{}])[0] or {}
        return CheckResult.PASSED if rules.get("default_action") == ["Deny"] else CheckResult.FAILED


check = StoragePrivate()
