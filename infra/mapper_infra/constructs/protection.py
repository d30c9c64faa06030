"""Protection from deletion: a CanNotDelete lock (people, scripts) and prevent_destroy (Terraform).

A lock alone does not stop Terraform: a plan that deletes a resource deletes its lock first, in
the same apply. prevent_destroy makes such a plan fail instead. docs/infra.md "Deliberate
removal" is how to remove a protected resource on purpose.
"""

from __future__ import annotations

from cdktf import TerraformResource
from cdktf_cdktf_provider_azurerm.management_lock import ManagementLock
from constructs import Construct

from mapper_infra.config import Protection

LOCK_NAME = "do-not-delete"
LOCK_NOTES = "Deliberate removal: docs/infra.md, section Deliberate removal."


def protect(
    scope: Construct, resource: TerraformResource, resource_id: str, protection: Protection
) -> None:
    """Lock ``resource`` against deletion and make Terraform refuse to destroy it, as configured."""
    if protection.prevent_destroy:
        resource.add_override("lifecycle.prevent_destroy", True)
    if protection.delete_locks:
        ManagementLock(
            scope,
            f"{resource.node.id}-lock",
            name=LOCK_NAME,
            scope=resource_id,
            lock_level="CanNotDelete",
            notes=LOCK_NOTES,
        )


def refuse_destroy(resource: TerraformResource, protection: Protection) -> None:
    """prevent_destroy only: for what Azure cannot lock (Key Vault keys live in the data plane)."""
    if protection.prevent_destroy:
        resource.add_override("lifecycle.prevent_destroy", True)
