"""CKV_LM_012: Key Vault key has an expiry and an automatic rotation policy."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_012"
NAME = "Key Vault key has an expiry and an automatic rotation policy"
RESOURCES = ("azurerm_key_vault_key",)
CONTROLS = ("CIS-KV-8.1", "CIS-KV-8.8", "LM-ENCRYPTION-CMK")
WHY = (
    "A key without expiry and rotation stays in use for ever, so one leaked key version "
    "exposes all data ever wrapped with it; automatic rotation bounds that exposure without a "
    "person remembering to rotate."
)
FIX = (
    "Give the key expiration_date and rotation_policy { expire_after, automatic { "
    "time_before_expiry } } (the keys construct does, from the environment file's [keys])."
)


class KvKeyRotation(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        policy = conf.get("rotation_policy", [{}])[0] or {}
        automatic = (policy.get("automatic") or [{}])[0] or {}
        if not conf.get("expiration_date") or not policy.get("expire_after"):
            return CheckResult.FAILED
        return CheckResult.PASSED if automatic.get("time_before_expiry") else CheckResult.FAILED


check = KvKeyRotation()
