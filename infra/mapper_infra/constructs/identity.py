"""Identity and keys: the server's user-assigned identity, a locked-down Key Vault in the same
region, customer-managed keys for the servers and the archive, and the application's key-encryption
key; each identity gets one role on one key, nothing wider."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import Fn, TerraformResourceLifecycle
from cdktf_cdktf_provider_azurerm.key_vault import KeyVault, KeyVaultNetworkAcls
from cdktf_cdktf_provider_azurerm.key_vault_key import (
    KeyVaultKey,
    KeyVaultKeyRotationPolicy,
    KeyVaultKeyRotationPolicyAutomatic,
)
from cdktf_cdktf_provider_azurerm.role_assignment import RoleAssignment
from cdktf_cdktf_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from mapper_infra.constructs.network import EndpointProps, private_endpoint

_HOURS = {"D": 24, "W": 24 * 7, "M": 24 * 30, "Y": 24 * 365}

# Azure services (PostgreSQL, Storage) wrapping their data keys with a customer-managed key.
SERVICE_ENCRYPTION = "Key Vault Crypto Service Encryption User"
# Services need only to wrap and unwrap its data-encryption key.
WRAP_OPS = ["wrapKey", "unwrapKey"]
# The application encrypts per-tenant field keys with the KEK: wrap, unwrap, and nothing that
# would let it export or sign.
KEK_OPS = ["wrapKey", "unwrapKey", "encrypt", "decrypt"]


@dataclass(frozen=True)
class KeySpec:
    key_type: str  # RSA or RSA-HSM
    key_size: int
    expire_after: str  # ISO 8601 duration, e.g. P1Y
    rotate_before_expiry: str

    @property
    def expire_after_hours(self) -> str:
        """``expire_after`` as Terraform's timeadd() wants it (``P1Y`` -> ``8760h``)."""
        count, unit = int(self.expire_after[1:-1]), self.expire_after[-1]
        return f"{count * _HOURS[unit]}h"


@dataclass(frozen=True)
class KeysProps:
    name: str  # resource name stem, e.g. lmdb-prod or lmdb-prod-geo
    vault_name: str
    resource_group_name: str
    location: str
    tenant_id: str
    deployer_object_id: str
    vault_sku: str
    soft_delete_retention_days: int
    endpoint_subnet_id: str
    vault_dns_zone_id: str
    key: KeySpec
    primary: bool  # the primary region also holds the archive's key and the application's KEK


@dataclass(frozen=True)
class Grant:
    identity: UserAssignedIdentity
    key: KeyVaultKey
    # Whatever uses the key must wait for this role assignment, or Azure's key check fails.
    access: RoleAssignment


class RegionalKeys(Construct):
    """A Key Vault and, for each user of a key, an identity, the key, and one role on it."""

    def __init__(self, scope: Construct, id_: str, props: KeysProps) -> None:
        super().__init__(scope, id_)
        self.vault = KeyVault(
            self,
            "vault",
            name=props.vault_name,
            tenant_id=props.tenant_id,
            sku_name=props.vault_sku,
            rbac_authorization_enabled=True,
            purge_protection_enabled=True,
            soft_delete_retention_days=props.soft_delete_retention_days,
            public_network_access_enabled=False,
            # Trusted Azure services (PostgreSQL's CMK access among them) bypass the firewall;
            # everything else comes through the private endpoint.
            network_acls=KeyVaultNetworkAcls(default_action="Deny", bypass="AzureServices"),
            resource_group_name=props.resource_group_name,
            location=props.location,
        )
        private_endpoint(
            self,
            "vault-endpoint",
            EndpointProps(
                name=f"{props.vault_name}-pe",
                subnet_id=props.endpoint_subnet_id,
                target_id=self.vault.id,
                subresource="vault",
                dns_zone_id=props.vault_dns_zone_id,
                resource_group_name=props.resource_group_name,
                location=props.location,
            ),
        )
        # The pipeline's identity creates and rotates keys; it needs no access to their use.
        deployer = RoleAssignment(
            self,
            "deployer-crypto-officer",
            scope=self.vault.id,
            role_definition_name="Key Vault Crypto Officer",
            principal_id=props.deployer_object_id,
        )
        self.postgres = self._grant("postgres", props, SERVICE_ENCRYPTION, WRAP_OPS, deployer)
        # The archive account and the application exist once, next to the primary server.
        self.archive = (
            self._grant("archive", props, SERVICE_ENCRYPTION, WRAP_OPS, deployer)
            if props.primary
            else None
        )
        self.application = (
            self._grant("app", props, "Key Vault Crypto User", KEK_OPS, deployer)
            if props.primary
            else None
        )

    def _grant(
        self, user: str, props: KeysProps, role: str, ops: list[str], deployer: RoleAssignment
    ) -> Grant:
        """An identity for ``user``, a key of its own, and ``role`` on that key only."""
        identity = self._identity(f"{user}-identity", f"{props.name}-{user}-id", props)
        key = self._key(f"{user}-key", f"{user}-key", props, ops, deployer)
        access = RoleAssignment(
            self,
            f"{user}-key-access",
            scope=key.resource_versionless_id,
            role_definition_name=role,
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
        )
        return Grant(identity, key, access)

    def _identity(self, id_: str, name: str, props: KeysProps) -> UserAssignedIdentity:
        return UserAssignedIdentity(
            self,
            id_,
            name=name,
            resource_group_name=props.resource_group_name,
            location=props.location,
        )

    def _key(
        self, id_: str, name: str, props: KeysProps, ops: list[str], deployer: RoleAssignment
    ) -> KeyVaultKey:
        spec = props.key
        return KeyVaultKey(
            self,
            id_,
            name=name,
            key_vault_id=self.vault.id,
            key_type=spec.key_type,
            key_size=spec.key_size,
            key_opts=ops,
            # The first version expires expire_after from creation; the rotation policy gives
            # every later version the same life. Ignoring the attribute keeps later plans clean.
            expiration_date=Fn.timeadd(Fn.plantimestamp(), spec.expire_after_hours),
            rotation_policy=KeyVaultKeyRotationPolicy(
                automatic=KeyVaultKeyRotationPolicyAutomatic(
                    time_before_expiry=spec.rotate_before_expiry
                ),
                expire_after=spec.expire_after,
                notify_before_expiry="P29D",
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=["expiration_date"]),
            depends_on=[deployer],
        )
