"""Terraform settings of a stack: the provider and its features, the pinned versions, the state.

The features are decisions (docs/infra.md "Provider features"), not defaults left to chance.
"""

from __future__ import annotations

from cdktf import AzurermBackend, TerraformStack
from cdktf_cdktf_provider_azurerm.provider import (
    AzurermProvider,
    AzurermProviderFeatures,
    AzurermProviderFeaturesKeyVault,
    AzurermProviderFeaturesPostgresqlFlexibleServer,
    AzurermProviderFeaturesResourceGroup,
    AzurermProviderFeaturesStorage,
)

from mapper_infra.config import Environment

# Write-only attributes (the dev admin password) need Terraform 1.11 (written by app.py into the
# stack's versions.tf.json); the provider is the one the bindings were generated for (cdktf
# writes its exact version into required_providers).
REQUIRED_TERRAFORM = ">= 1.11.0"
PROVIDER_SOURCE = "hashicorp/azurerm"


def configure_terraform(stack: TerraformStack, env: Environment) -> None:
    """The azurerm provider with its features, its pinned source, and the environment's state."""
    AzurermProvider(
        stack,
        "azurerm",
        features=[features(env)],
        # Storage and Key Vault data planes through Entra ID: no shared keys anywhere.
        storage_use_azuread=True,
    )
    # cdktf writes the short "azurerm"; the full address leaves no doubt which registry.
    stack.add_override("terraform.required_providers.azurerm.source", PROVIDER_SOURCE)
    AzurermBackend(stack, **env.backend.model_dump(), use_azuread_auth=True)


def features(env: Environment) -> AzurermProviderFeatures:
    """The provider's behaviours, decided (docs/infra.md "Provider features")."""
    return AzurermProviderFeatures(
        postgresql_flexible_server=[
            AzurermProviderFeaturesPostgresqlFlexibleServer(
                # Off: a static parameter change waits for a restart in the maintenance window
                # instead of restarting prod in the middle of an apply.
                restart_server_on_configuration_value_change=(
                    env.server.restart_on_parameter_change
                )
            )
        ],
        # The archive account refuses public traffic: the provider manages it through the
        # control plane only (containers, policies, queues by storage_account_id).
        storage=[AzurermProviderFeaturesStorage(data_plane_available=False)],
        # Purge protection is on: a destroy must not try to purge, and a re-create after an
        # accidental delete recovers the soft-deleted vault and keys instead of failing.
        key_vault=[
            AzurermProviderFeaturesKeyVault(
                purge_soft_delete_on_destroy=False,
                purge_soft_deleted_keys_on_destroy=False,
                recover_soft_deleted_key_vaults=True,
                recover_soft_deleted_keys=True,
            )
        ],
        resource_group=[
            AzurermProviderFeaturesResourceGroup(prevent_deletion_if_contains_resources=True)
        ],
    )
