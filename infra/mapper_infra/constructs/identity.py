"""Identity and keys: the server's user-assigned identity, a locked-down Key Vault in the same
region, customer-managed keys for the servers and the archive, and the application's key-encryption
key; each identity gets one role on one key, nothing wider."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import Fn, ITerraformDependable, TerraformResourceLifecycle
from cdktf_cdktf_provider_azurerm.key_vault import KeyVault, KeyVaultNetworkAcls
from cdktf_cdktf_provider_azurerm.key_vault_key import (
    KeyVaultKey,
    KeyVaultKeyRotationPolicy,
    KeyVaultKeyRotationPolicyAutomatic,
)
from cdktf_cdktf_provider_azurerm.role_assignment import RoleAssignment
from cdktf_cdktf_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from mapper_infra import config
from mapper_infra.constructs.network import EndpointProps, private_endpoint
from mapper_infra.constructs.protection import protect, refuse_destroy
from mapper_infra.constructs.site import Site

# Azure services (PostgreSQL, Storage) wrapping their data keys with a customer-managed key.
SERVICE_ENCRYPTION = "Key Vault Crypto Service Encryption User"
# Services need only to wrap and unwrap its data-encryption key.
WRAP_OPS = ["wrapKey", "unwrapKey"]
# The application encrypts per-tenant field keys with the KEK: wrap, unwrap, and nothing that
# would let it export or sign.
KEK_OPS = ["wrapKey", "unwrapKey", "encrypt", "decrypt"]


def hours(duration: str) -> str:
    """An ISO 8601 duration as Terraform's timeadd() wants it (``P1Y`` -> ``8760h``)."""
    return f"{config.duration_days(duration) * 24}h"


@dataclass(frozen=True)
class VaultWiring:
    """What the vault of one region is connected to (built by other constructs)."""

    name: str  # resource name stem, e.g. lmdb-prod or lmdb-prod-paired
    vault_name: str
    tenant_id: str
    deployer_object_id: str
    endpoint_subnet_id: str
    vault_dns_zone_id: str
    # The vault zone's links to the VNets: the pipeline reaches the vault's data plane through
    # the private endpoint, so keys can be created only once its name resolves.
    dns_links: tuple[ITerraformDependable, ...]
    primary: bool  # the primary region also holds the archive's key and the application's KEK


@dataclass(frozen=True)
class Grant:
    identity: UserAssignedIdentity
    key: KeyVaultKey
    # Whatever uses the key must wait for this role assignment, or Azure's key check fails.
    access: RoleAssignment


class RegionalKeys(Construct):
    """A Key Vault and, for each user of a key, an identity, the key, and one role on it."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        site: Site,
        *,
        keys: config.Keys,
        protection: config.Protection,
        wiring: VaultWiring,
    ) -> None:
        super().__init__(scope, id_)
        self.site, self.keys, self.protection, self.wiring = site, keys, protection, wiring
        self.vault = KeyVault(
            self,
            "vault",
            name=wiring.vault_name,
            tenant_id=wiring.tenant_id,
            sku_name=keys.vault_sku,
            rbac_authorization_enabled=True,
            purge_protection_enabled=True,
            soft_delete_retention_days=keys.soft_delete_retention_days,
            public_network_access_enabled=False,
            # Trusted Azure services (PostgreSQL's CMK access among them) bypass the firewall;
            # everything else comes through the private endpoint.
            network_acls=KeyVaultNetworkAcls(default_action="Deny", bypass="AzureServices"),
            resource_group_name=site.resource_group_name,
            location=site.location,
        )
        protect(self, self.vault, self.vault.id, protection)
        endpoint = private_endpoint(
            self,
            "vault-endpoint",
            site,
            EndpointProps(
                name=f"{wiring.vault_name}-pe",
                subnet_id=wiring.endpoint_subnet_id,
                target_id=self.vault.id,
                subresource="vault",
                dns_zone_id=wiring.vault_dns_zone_id,
            ),
        )
        # The pipeline's identity creates and rotates keys; it needs no access to their use.
        deployer = RoleAssignment(
            self,
            "deployer-crypto-officer",
            scope=self.vault.id,
            role_definition_name="Key Vault Crypto Officer",
            principal_id=wiring.deployer_object_id,
        )
        # A key is created through the data plane: the role, the endpoint and its DNS name must
        # all be in place first, or a first apply fails with 403 or a name that does not resolve.
        self.key_prerequisites: tuple[ITerraformDependable, ...] = (
            deployer,
            endpoint,
            *wiring.dns_links,
        )
        self.postgres = self._grant("postgres", SERVICE_ENCRYPTION, WRAP_OPS)
        # The archive account and the application exist once, next to the primary server.
        self.archive = (
            self._grant("archive", SERVICE_ENCRYPTION, WRAP_OPS) if wiring.primary else None
        )
        self.application = (
            self._grant("app", "Key Vault Crypto User", KEK_OPS) if wiring.primary else None
        )

    def _grant(self, user: str, role: str, ops: list[str]) -> Grant:
        """An identity for ``user``, a key of its own, and ``role`` on that key only."""
        identity = self._identity(f"{user}-identity", f"{self.wiring.name}-{user}-id")
        key = self._key(f"{user}-key", f"{user}-key", ops)
        access = RoleAssignment(
            self,
            f"{user}-key-access",
            scope=key.resource_versionless_id,
            role_definition_name=role,
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
        )
        return Grant(identity, key, access)

    def _identity(self, id_: str, name: str) -> UserAssignedIdentity:
        identity = UserAssignedIdentity(
            self,
            id_,
            name=name,
            resource_group_name=self.site.resource_group_name,
            location=self.site.location,
        )
        protect(self, identity, identity.id, self.protection)
        return identity

    def _key(self, id_: str, name: str, ops: list[str]) -> KeyVaultKey:
        spec = self.keys
        key = KeyVaultKey(
            self,
            id_,
            name=name,
            key_vault_id=self.vault.id,
            key_type=spec.key_type,
            key_size=spec.key_size,
            key_opts=ops,
            # The first version expires expire_after from creation; the rotation policy gives
            # every later version the same life. Ignoring the attribute keeps later plans clean.
            expiration_date=Fn.timeadd(Fn.plantimestamp(), hours(spec.expire_after)),
            rotation_policy=KeyVaultKeyRotationPolicy(
                automatic=KeyVaultKeyRotationPolicyAutomatic(
                    time_before_expiry=spec.rotate_before_expiry
                ),
                expire_after=spec.expire_after,
                # Before the rotation, so that its notice (KeyNearExpiry) is a warning in time.
                notify_before_expiry=spec.notify_before_expiry,
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=["expiration_date"]),
            depends_on=list(self.key_prerequisites),
        )
        # A deleted key is data lost: the servers and the archive cannot decrypt without it.
        refuse_destroy(key, self.protection)
        return key
