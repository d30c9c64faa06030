"""Alerts: the catalog (mapper_infra/data/alerts.toml) applied per environment, AMBA parity on
every server, replica and vault, and a runbook behind every alert."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mapper_infra.catalog import apply_settings, load_catalog
from mapper_infra.config import Environment

from .tfjson import ref, resources

ROOT = Path(__file__).resolve().parents[2]
ENVS = ("dev", "staging", "prod")
Stacks = dict[str, dict[str, Any]]

# Written out rather than read from the catalog, so that dropping one from it fails here.
SERVER_METRICS = {
    "cpu_percent",
    "memory_percent",
    "storage_percent",
    "storage_free",
    "active_connections",
    "connections_failed",
    "iops",
    "disk_iops_consumed_percentage",
    "is_db_alive",
    "deadlocks",
    "maximum_used_transactionIDs",
}
PRIMARY_METRICS = SERVER_METRICS | {"physical_replication_delay_in_bytes", "txlogs_storage_used"}
REPLICA_METRICS = SERVER_METRICS | {"physical_replication_delay_in_seconds"}
PGBOUNCER_METRICS = {"client_connections_waiting"}
VAULT_METRICS = {"Availability", "SaturationShoebox", "ServiceApiLatency", "ServiceApiResult"}
DELETIONS = {
    "Microsoft.DBforPostgreSQL/flexibleServers/delete",
    "Microsoft.KeyVault/vaults/delete",
    "Microsoft.ManagedIdentity/userAssignedIdentities/delete",
    "Microsoft.Authorization/roleAssignments/delete",
    "Microsoft.Authorization/locks/delete",
}
RUNBOOK = re.compile(r"Runbook: https://\S+/(docs/runbooks/([a-z0-9-]+)\.md)$")


def every_alert(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{kind}.{name}": alert
        for kind in (
            "monitor_metric_alert",
            "monitor_activity_log_alert",
            "monitor_scheduled_query_rules_alert_v2",
        )
        for name, alert in resources(stack, kind).items()
    }


def metric_alerts_by_scope(stack: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for alert in resources(stack, "monitor_metric_alert").values():
        (scope,) = alert["scopes"]
        (criteria,) = alert["criteria"]
        found.setdefault(scope, {})[criteria["metric_name"]] = alert | {"criteria": criteria}
        assert alert["action"][0]["action_group_id"].startswith("${azurerm_monitor_action_group.")
    return found


@pytest.mark.parametrize("env", ENVS)
def test_every_server_and_replica_has_every_alert(
    env: str, stacks: Stacks, environments: dict[str, Environment]
) -> None:
    stack = stacks[env]
    spec = environments[env]
    by_scope = metric_alerts_by_scope(stack)
    pgbouncer = PGBOUNCER_METRICS if spec.server.pgbouncer else set()
    storage_bytes = spec.server.storage_mb * 1024**2
    for name, server in resources(stack, "postgresql_flexible_server").items():
        replica = server.get("create_mode") == "Replica"
        got = by_scope[ref("postgresql_flexible_server", name)]
        assert set(got) == (REPLICA_METRICS if replica else PRIMARY_METRICS) | pgbouncer, name
        connections = got["active_connections"]["criteria"]["threshold"]
        assert 0 < connections < spec.server.flexible_sku.max_connections
        assert got["maximum_used_transactionIDs"]["criteria"]["threshold"] < 2**31
        # Early enough: Azure turns the server read-only below 5% free.
        free = got["storage_free"]["criteria"]
        assert free["operator"] == "LessThan"
        assert 0.05 * storage_bytes < free["threshold"] < 0.5 * storage_bytes
        # A failover (one to two minutes down) must not page: an average over ten minutes.
        alive = got["is_db_alive"]
        assert alive["criteria"]["aggregation"] == "Average"
        assert alive["window_size"] in {"PT10M", "PT15M", "PT30M"}
    for name in resources(stack, "key_vault"):
        assert set(by_scope[ref("key_vault", name)]) == VAULT_METRICS


@pytest.mark.parametrize("env", ENVS)
def test_control_plane_health_and_key_alerts(env: str, stacks: Stacks) -> None:
    stack = stacks[env]
    activity = resources(stack, "monitor_activity_log_alert").values()
    operations = {a["criteria"].get("operation_name") for a in activity} - {None}
    assert operations == DELETIONS
    categories = {a["criteria"]["category"] for a in activity}
    assert {"ResourceHealth", "ServiceHealth"} <= categories
    (service,) = [a for a in activity if a["criteria"]["category"] == "ServiceHealth"]
    assert service["scopes"][0].startswith("/subscriptions/")
    queries = "\n".join(
        a["criteria"][0]["query"]
        for a in resources(stack, "monitor_scheduled_query_rules_alert_v2").values()
    )
    for operation in ("KeyDelete", "KeyUpdate"):
        assert f'"{operation}"' in queries
    # Key expiry: every vault's events go to a subscription, and an alert counts them.
    topics = resources(stack, "eventgrid_system_topic")
    assert {t["source_resource_id"] for t in topics.values()} == {
        ref("key_vault", name) for name in resources(stack, "key_vault")
    }
    for subscription in resources(stack, "eventgrid_system_topic_event_subscription").values():
        assert "Microsoft.KeyVault.KeyNearExpiry" in subscription["included_event_types"]
    by_scope = metric_alerts_by_scope(stack)
    for name in topics:
        assert set(by_scope[ref("eventgrid_system_topic", name)]) == {"MatchedEventCount"}


@pytest.mark.parametrize("env", ENVS)
def test_key_expiry_notice_comes_before_rotation(env: str, stacks: Stacks) -> None:
    days = {"D": 1, "W": 7, "M": 30, "Y": 365}
    for key in resources(stacks[env], "key_vault_key").values():
        policy = key["rotation_policy"]
        notify, rotate = policy["notify_before_expiry"], policy["automatic"]["time_before_expiry"]
        assert int(notify[1:-1]) * days[notify[-1]] > int(rotate[1:-1]) * days[rotate[-1]]


def test_thresholds_and_severities_come_from_the_environment_files(
    stacks: Stacks, environments: dict[str, Environment]
) -> None:
    def alert(env: str, suffix: str) -> dict[str, Any]:
        (found,) = [
            a
            for a in resources(stacks[env], "monitor_metric_alert").values()
            if a["name"] == f"{environments[env].stem}-{suffix}"
        ]
        return found

    # dev.toml overrides both; prod takes the catalog's defaults.
    assert alert("dev", "primary-postgres-cpu")["criteria"][0]["threshold"] == 95
    assert alert("prod", "primary-postgres-cpu")["criteria"][0]["threshold"] == 90
    assert alert("dev", "primary-postgres-is-db-alive")["severity"] == 2
    assert alert("prod", "primary-postgres-is-db-alive")["severity"] == 0


@pytest.mark.parametrize("env", ENVS)
def test_every_alert_links_its_runbook_and_the_runbook_exists(env: str, stacks: Stacks) -> None:
    alerts = every_alert(stacks[env])
    assert alerts
    for address, alert in alerts.items():
        found = RUNBOOK.search(alert["description"])
        assert found, f"{address}: no runbook link in {alert['description']!r}"
        assert (ROOT / found.group(1)).is_file(), f"{address}: {found.group(1)} is missing"
        assert alert["name"].endswith(found.group(2)), address


def test_every_catalog_entry_has_a_runbook_that_says_what_to_look_at_and_do() -> None:
    for alert in load_catalog():
        page = ROOT / alert.runbook
        assert page.is_file(), f"{alert.id}: write {alert.runbook}"
        text = page.read_text("utf-8")
        assert text.startswith(f"# {alert.id}"), page
        for heading in ("## What to look at", "## What to do"):
            assert heading in text, f"{page}: needs {heading!r}"


def test_catalog_settings_are_checked() -> None:
    from mapper_infra.catalog import AlertSetting

    with pytest.raises(ValueError, match="unknown alert postgres-cpus; the catalog"):
        apply_settings({"postgres-cpus": AlertSetting(threshold=1)})
    with pytest.raises(ValueError, match="activity-lock-deleted: a activity alert has no thr"):
        apply_settings({"activity-lock-deleted": AlertSetting(threshold=1)})
    assert "postgres-cpu" not in {
        a.id for a in apply_settings({"postgres-cpu": AlertSetting(enabled=False)})
    }
