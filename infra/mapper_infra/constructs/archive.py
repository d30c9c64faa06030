"""Lifecycle: a storage account for exports and audit archives, private and versioned, with an
immutable audit container and lifecycle rules (cool, archive, delete) following retention."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_azurerm.storage_account import (
    StorageAccount,
    StorageAccountBlobProperties,
    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy,
    StorageAccountBlobPropertiesDeleteRetentionPolicy,
    StorageAccountCustomerManagedKey,
    StorageAccountIdentity,
    StorageAccountNetworkRules,
)
from cdktf_cdktf_provider_azurerm.storage_container import StorageContainer
from cdktf_cdktf_provider_azurerm.storage_container_immutability_policy import (
    StorageContainerImmutabilityPolicy,
)
from cdktf_cdktf_provider_azurerm.storage_management_policy import (
    StorageManagementPolicy,
    StorageManagementPolicyRule,
    StorageManagementPolicyRuleActions,
    StorageManagementPolicyRuleActionsBaseBlob,
    StorageManagementPolicyRuleActionsVersion,
    StorageManagementPolicyRuleFilters,
)
from constructs import Construct

from mapper_infra import config
from mapper_infra.constructs.identity import Grant
from mapper_infra.constructs.network import EndpointProps, private_endpoint
from mapper_infra.constructs.protection import protect
from mapper_infra.constructs.site import Site

EXPORTS = "exports"
AUDIT = "audit-archive"


@dataclass(frozen=True)
class ArchiveWiring:
    account_name: str
    endpoint_subnet_id: str
    blob_dns_zone_id: str
    encryption: Grant


class ArchiveStorage(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        site: Site,
        *,
        retention: config.Archive,
        protection: config.Protection,
        wiring: ArchiveWiring,
    ) -> None:
        super().__init__(scope, id_)
        self.account = StorageAccount(
            self,
            "account",
            name=wiring.account_name,
            account_kind="StorageV2",
            account_tier="Standard",
            account_replication_type=retention.replication,
            min_tls_version="TLS1_2",
            https_traffic_only_enabled=True,
            public_network_access_enabled=False,
            allow_nested_items_to_be_public=False,
            # Entra ID only: no account keys or SAS tokens to leak.
            shared_access_key_enabled=False,
            default_to_oauth_authentication=True,
            infrastructure_encryption_enabled=True,
            # Exports and audit archives hold tenant data: encrypted with our key, like the server.
            identity=StorageAccountIdentity(
                type="UserAssigned", identity_ids=[wiring.encryption.identity.id]
            ),
            customer_managed_key=StorageAccountCustomerManagedKey(
                key_vault_key_id=wiring.encryption.key.versionless_id,
                user_assigned_identity_id=wiring.encryption.identity.id,
            ),
            depends_on=[wiring.encryption.access],
            cross_tenant_replication_enabled=False,
            network_rules=StorageAccountNetworkRules(
                default_action="Deny", bypass=["AzureServices"]
            ),
            blob_properties=StorageAccountBlobProperties(
                versioning_enabled=True,
                change_feed_enabled=True,
                delete_retention_policy=StorageAccountBlobPropertiesDeleteRetentionPolicy(
                    days=retention.soft_delete_days
                ),
                container_delete_retention_policy=(
                    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy(
                        days=retention.soft_delete_days
                    )
                ),
            ),
            resource_group_name=site.resource_group_name,
            location=site.location,
        )
        protect(self, self.account, self.account.id, protection)
        private_endpoint(
            self,
            "blob-endpoint",
            site,
            EndpointProps(
                name=f"{wiring.account_name}-blob-pe",
                subnet_id=wiring.endpoint_subnet_id,
                target_id=self.account.id,
                subresource="blob",
                dns_zone_id=wiring.blob_dns_zone_id,
            ),
        )
        for name in (EXPORTS, AUDIT):
            container = StorageContainer(
                self,
                name,
                name=name,
                storage_account_id=self.account.id,
                container_access_type="private",
            )
            if name == AUDIT:
                # Audit records may be appended to but never changed or removed before they age
                # out; locking the policy is a one-way step left to a person (docs/infra.md).
                StorageContainerImmutabilityPolicy(
                    self,
                    "audit-immutability",
                    storage_container_resource_manager_id=container.resource_manager_id,
                    immutability_period_in_days=retention.audit_immutability_days,
                    protected_append_writes_enabled=True,
                )
        StorageManagementPolicy(
            self,
            "lifecycle",
            storage_account_id=self.account.id,
            rule=[
                StorageManagementPolicyRule(
                    name="age-out",
                    enabled=True,
                    filters=StorageManagementPolicyRuleFilters(
                        blob_types=["blockBlob"], prefix_match=[f"{EXPORTS}/", f"{AUDIT}/"]
                    ),
                    actions=StorageManagementPolicyRuleActions(
                        base_blob=StorageManagementPolicyRuleActionsBaseBlob(
                            tier_to_cool_after_days_since_modification_greater_than=(
                                retention.cool_after_days
                            ),
                            tier_to_archive_after_days_since_modification_greater_than=(
                                retention.archive_after_days
                            ),
                            delete_after_days_since_modification_greater_than=(
                                retention.delete_after_days
                            ),
                        ),
                        # Old versions of a blob go once the soft-delete window has passed.
                        version=StorageManagementPolicyRuleActionsVersion(
                            delete_after_days_since_creation=retention.soft_delete_days
                        ),
                    ),
                )
            ],
        )
