"""CKV_LM_021: every server, replica and Key Vault has the required metric alerts.

A coverage rule that checkov's YAML graph language cannot say ("for each metric, some connected
alert"), so this resource check reads the file checkov is scanning and collects the metric
alerts whose ``scopes`` name the resource. The required metrics are written out here, not
imported from infra/, so dropping an alert from the monitoring construct fails this check.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_021"
NAME = "Server, replica and Key Vault have every required metric alert"
RESOURCES = ("azurerm_postgresql_flexible_server", "azurerm_key_vault")
CONTROLS = ("LM-MONITORING",)
WHY = (
    "An unwatched replica lags for hours, an unwatched server runs out of storage or "
    "transaction IDs, and an unwatched vault throttles key operations, each unnoticed until "
    "it is an outage. The alert set is Azure Monitor's baseline for flexible servers plus "
    "replication delay for replicas and availability, saturation and latency for vaults."
)
FIX = (
    "Create the alerts through the monitoring construct (infra/mapper_infra/constructs), which "
    "adds one azurerm_monitor_metric_alert per metric with the resource in scopes and an action "
    "group; a new server or vault must be passed to it."
)

SERVER_METRICS = frozenset(
    {
        "cpu_percent",
        "memory_percent",
        "storage_percent",
        "storage_free",
        "active_connections",
        "connections_failed",
        "disk_iops_consumed_percentage",
        "is_db_alive",
        "deadlocks",
        "maximum_used_transactionIDs",
    }
)
REPLICA_METRICS = SERVER_METRICS | {"physical_replication_delay_in_seconds"}
VAULT_METRICS = frozenset({"Availability", "SaturationShoebox", "ServiceApiLatency"})


@lru_cache(maxsize=16)
def _alerts_by_scope(path: str) -> dict[str, frozenset[str]]:
    """scope reference -> metric names of the alerts (with an action group) watching it."""
    stack = json.loads(Path(path).read_text(encoding="utf-8"))
    resources = stack.get("resource", {}) if isinstance(stack, dict) else {}
    found: dict[str, set[str]] = {}
    for alert in (resources.get("azurerm_monitor_metric_alert") or {}).values():
        if not alert.get("action"):
            continue
        for criteria in _blocks(alert.get("criteria")):
            for scope in alert.get("scopes") or []:
                found.setdefault(str(scope), set()).add(str(criteria.get("metric_name")))
    return {scope: frozenset(metrics) for scope, metrics in found.items()}


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value or [] if isinstance(v, dict)]


def _stack_path(scanned_file: str) -> str:
    """checkov names a scanned file "/" + its path relative to the working directory."""
    candidate = os.path.normpath(os.path.join(os.getcwd(), scanned_file.lstrip("/")))
    return candidate if os.path.isfile(candidate) else scanned_file


class RequiredAlerts(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.LOGGING],
            supported_resources=list(RESOURCES),
        )
        self._scanned = ("", "", "")

    def run(
        self,
        scanned_file: str,
        entity_configuration: dict[str, Any],
        entity_name: str,
        entity_type: str,
        skip_info: Any,
    ) -> Any:
        self._scanned = (scanned_file, entity_type, entity_name)
        return super().run(scanned_file, entity_configuration, entity_name, entity_type, skip_info)

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        scanned_file, entity_type, entity_name = self._scanned
        if entity_type == "azurerm_key_vault":
            wanted = VAULT_METRICS
        elif conf.get("create_mode", [""]) == ["Replica"]:
            wanted = REPLICA_METRICS
        else:
            wanted = SERVER_METRICS
        path = _stack_path(scanned_file)
        if not os.path.isfile(path):
            return CheckResult.UNKNOWN
        got = _alerts_by_scope(path).get(f"${{{entity_type}.{entity_name}.id}}", frozenset())
        missing = sorted(wanted - got)
        if missing:
            self.details.append("missing alerts: " + ", ".join(missing))
            return CheckResult.FAILED
        return CheckResult.PASSED


check = RequiredAlerts()
