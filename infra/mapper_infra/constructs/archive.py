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

from mapper_infra.config import Archive
from mapper_infra.constructs.identity import Grant
from mapper_infra.constructs.network import EndpointProps, private_endpoint

EXPORTS = "exports"
AUDIT = "audit-archive"


@dataclass(frozen=True)
class ArchiveProps:
    account_name: str
    resource_group_name: str
    location: str
    retention: Archive  # replication, soft delete, tiering and immutability periods
    endpoint_subnet_id: str
    blob_dns_zone_id: str
    encryption: Grant


class ArchiveStorage(Construct):
    def __init__(self, scope: Construct, id_: str, props: ArchiveProps) -> None:
        super().__init__(scope, id_)
        self.account = StorageAccount(
            self,
            "account",
            name=props.account_name,
            account_kind="StorageV2",
            account_tier="Standard",
            account_replication_type=props.retention.replication,
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
                type="UserAssigned", identity_ids=[props.encryption.identity.id]
            ),
            customer_managed_key=StorageAccountCustomerManagedKey(
                key_vault_key_id=props.encryption.key.versionless_id,
                user_assigned_identity_id=props.encryption.identity.id,
            ),
            depends_on=[props.encryption.access],
            cross_tenant_replication_enabled=False,
            network_rules=StorageAccountNetworkRules(
                default_action="Deny", bypass=["AzureServices"]
            ),
            blob_properties=StorageAccountBlobProperties(
                versioning_enabled=True,
                change_feed_enabled=True,
                delete_retention_policy=StorageAccountBlobPropertiesDeleteRetentionPolicy(
                    days=props.retention.soft_delete_days
                ),
                container_delete_retention_policy=(
                    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy(
                        days=props.retention.soft_delete_days
                    )
                ),
            ),
            resource_group_name=props.resource_group_name,
            location=props.location,
        )
        private_endpoint(
            self,
            "blob-endpoint",
            EndpointProps(
                name=f"{props.account_name}-blob-pe",
                subnet_id=props.endpoint_subnet_id,
                target_id=self.account.id,
                subresource="blob",
                dns_zone_id=props.blob_dns_zone_id,
                resource_group_name=props.resource_group_name,
                location=props.location,
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
                    immutability_period_in_days=props.retention.audit_immutability_days,
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
                                props.retention.cool_after_days
                            ),
                            tier_to_archive_after_days_since_modification_greater_than=(
                                props.retention.archive_after_days
                            ),
                            delete_after_days_since_modification_greater_than=(
                                props.retention.delete_after_days
                            ),
                        ),
                        # Old versions of a blob go once the soft-delete window has passed.
                        version=StorageManagementPolicyRuleActionsVersion(
                            delete_after_days_since_creation=props.retention.soft_delete_days
                        ),
                    ),
                )
            ],
        )
