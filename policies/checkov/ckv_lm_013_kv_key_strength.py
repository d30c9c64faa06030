"""CKV_LM_013: Key Vault key is RSA of at least 3072 bits and cannot be exported or sign."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_013"
NAME = "Key Vault key is RSA of at least 3072 bits and cannot be exported or sign"
RESOURCES = ("azurerm_key_vault_key",)
CONTROLS = ("LM-ENCRYPTION-CMK",)
WHY = (
    "Keys here wrap data-encryption keys; RSA below 3072 bits is below current guidance for "
    "data kept past 2030, and a key that can be exported or used to sign could leave the HSM "
    "or be misused to forge."
)
FIX = (
    "Use key_type RSA-HSM (or RSA outside prod), key_size 3072 or more, and key_opts limited "
    "to wrapKey, unwrapKey, encrypt, decrypt."
)


class KvKeyStrength(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if str(conf.get("key_type", [""])[0]) not in {"RSA", "RSA-HSM"}:
            return CheckResult.FAILED
        size = conf.get("key_size", [0])[0]
        if not isinstance(size, int) or size < 3072:
            return CheckResult.FAILED
        opts = conf.get("key_opts", [[]])[0] or []
        return CheckResult.FAILED if set(opts) - ALLOWED_OPTS else CheckResult.PASSED


ALLOWED_OPTS = {"wrapKey", "unwrapKey", "encrypt", "decrypt"}


check = KvKeyStrength()
