"""Grafana dashboards as JSON, generated from the alert catalog (``data/alerts.toml``) and each
environment's settings, so a panel shows exactly the threshold its alert fires at.

Per environment, ``infra/dashboards/<env>/overview.json`` (every server and the Key Vaults at a
glance) and ``server.json`` (one server, chosen by a variable: CPU, memory, IOPS, storage,
connections, replication, transaction ID age, PgBouncer). The Azure Monitor data source of Azure
Managed Grafana reads the metrics; ``tests/infra/test_dashboards.py`` fails when the committed
files differ from what this module generates::

    .venv/bin/python -m mapper_infra.dashboards      # write infra/dashboards/

No azurerm bindings are imported: this runs in a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mapper_infra import catalog
from mapper_infra.config import Environment, load_environments
from mapper_infra.watch import MIB, WatchedServer, watched_server

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "infra" / "dashboards"
ENVIRONMENTS = ROOT / "infra" / "environments"
DATASOURCE = {"type": "grafana-azure-monitor-datasource", "uid": "${datasource}"}
POSTGRES = "Microsoft.DBforPostgreSQL/flexibleServers"
VAULT = "Microsoft.KeyVault/vaults"
# Units Grafana understands, by metric; bytes metrics are drawn in bytes.
UNITS = {
    "cpu_percent": "percent",
    "memory_percent": "percent",
    "storage_percent": "percent",
    "disk_iops_consumed_percentage": "percent",
    "storage_free": "bytes",
    "txlogs_storage_used": "bytes",
    "physical_replication_delay_in_bytes": "bytes",
    "physical_replication_delay_in_seconds": "s",
    "ServiceApiLatency": "ms",
    "Availability": "percent",
    "SaturationShoebox": "percent",
}
# Panels of the per-server dashboard, in order: the list (CPU, memory, IOPS, storage,
# connections, replication lag, transaction ID age, PgBouncer) with every other metric alert of
# a server after them.
ORDER = (
    "cpu_percent",
    "memory_percent",
    "iops",
    "disk_iops_consumed_percentage",
    "storage_percent",
    "storage_free",
    "active_connections",
    "connections_failed",
    "physical_replication_delay_in_seconds",
    "physical_replication_delay_in_bytes",
    "txlogs_storage_used",
    "maximum_used_transactionIDs",
    "client_connections_waiting",
)


def _thresholds(alert: catalog.MetricAlert, value: float) -> dict[str, Any]:
    """Green on the healthy side of the alert's threshold, red past it."""
    below = alert.operator.startswith("LessThan")
    steps = (
        [{"color": "red", "value": None}, {"color": "green", "value": value}]
        if below
        else [{"color": "green", "value": None}, {"color": "red", "value": value}]
    )
    return {"mode": "absolute", "steps": steps}


def _target(resource: str, namespace: str, alert: catalog.MetricAlert) -> dict[str, Any]:
    query: dict[str, Any] = {
        "resources": [
            {
                "subscription": "${subscription}",
                "resourceGroup": "${resource_group}",
                "metricNamespace": namespace,
                "resourceName": resource,
            }
        ],
        "metricName": alert.metric,
        "aggregation": alert.aggregation,
        "timeGrain": "auto",
    }
    if alert.dimension is not None:
        query["dimensionFilters"] = [
            {
                "dimension": alert.dimension.name,
                "operator": "eq",
                "filters": list(alert.dimension.values),
            }
        ]
    return {"refId": "A", "queryType": "Azure Monitor", "azureMonitor": query}


def _panel(
    alert: catalog.MetricAlert,
    threshold: float,
    *,
    runbooks: str,
    resource: str,
    namespace: str,
    position: tuple[int, int, int, int],
    kind: str = "timeseries",
) -> dict[str, Any]:
    x, y, w, h = position
    shown = f"{threshold / MIB:.0f} MiB" if UNITS.get(alert.metric) == "bytes" else f"{threshold:g}"
    return {
        "type": kind,
        "title": alert.metric,
        "description": f"{alert.summary}. Alert `{alert.id}` (severity {alert.severity}) when the "
        f"{alert.aggregation.lower()} over {alert.window} is {alert.operator} {shown}.",
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [_target(resource, namespace, alert)],
        "fieldConfig": {
            "defaults": {
                "unit": UNITS.get(alert.metric, "short"),
                "thresholds": _thresholds(alert, threshold),
                "custom": {"thresholdsStyle": {"mode": "line+area"}},
            },
            "overrides": [],
        },
        "links": [{"title": f"runbook: {alert.id}", "url": f"{runbooks}/{alert.id}.md"}],
    }


def _servers(env: Environment) -> list[tuple[str, WatchedServer]]:
    """(name, facts) of the primary and each replica; the resource id is not needed here."""
    found = [(env.server_name(), watched_server(env, ""))]
    found += [(env.server_name(r), watched_server(env, "", r)) for r in env.replicas]
    return found


def _metric_alerts(env: Environment, targets: set[str]) -> list[catalog.MetricAlert]:
    alerts = [
        a
        for a in env.monitoring.catalog
        if isinstance(a, catalog.MetricAlert) and a.target in targets
    ]
    rank = {metric: i for i, metric in enumerate(ORDER)}
    return sorted(alerts, key=lambda a: (rank.get(a.metric, len(ORDER)), a.id))


def _dashboard(
    env: Environment,
    slug: str,
    title: str,
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]],
) -> dict[str, Any]:
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "uid": f"{env.stem}-{slug}",
        "title": f"Llama Mapper database ({env.name}): {title}",
        "tags": ["llama-mapper", "postgresql", env.name],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "5m",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": DATASOURCE["type"]},
                {"name": "subscription", "type": "textbox", "label": "subscription id"},
                {
                    "name": "resource_group",
                    "type": "constant",
                    "query": env.resource_group_name,
                    "hide": 2,
                },
                *variables,
            ]
        },
        "panels": panels,
    }


def server_dashboard(env: Environment) -> dict[str, Any]:
    """One server at a time (a variable lists the primary and the replicas): a panel per metric
    alert that watches servers, with the primary's threshold (replicas are never smaller)."""
    servers = _servers(env)
    primary = servers[0][1]
    targets = {"server", "primary", "replica"} | ({"pgbouncer"} if primary.pgbouncer else set())
    panels = [
        _panel(
            alert,
            primary.threshold(alert),
            runbooks=env.monitoring.runbook_base_url,
            resource="${server}",
            namespace=POSTGRES,
            position=(12 * (i % 2), 8 * (i // 2), 12, 8),
        )
        for i, alert in enumerate(_metric_alerts(env, targets))
    ]
    variable = {
        "name": "server",
        "type": "custom",
        "query": ",".join(name for name, _ in servers),
        "current": {"text": servers[0][0], "value": servers[0][0]},
    }
    return _dashboard(env, "server", "server", panels, [variable])


OVERVIEW = ("is_db_alive", "cpu_percent", "storage_percent", "active_connections")


def overview_dashboard(env: Environment) -> dict[str, Any]:
    """Every server in a row of stat panels (alive, CPU, storage, connections) with each
    server's own thresholds, then every Key Vault's metric alerts."""
    by_metric = {a.metric: a for a in _metric_alerts(env, {"server"})}
    panels: list[dict[str, Any]] = []
    for row, (name, facts) in enumerate(_servers(env)):
        for column, metric in enumerate(m for m in OVERVIEW if m in by_metric):
            alert = by_metric[metric]
            panel = _panel(
                alert,
                facts.threshold(alert),
                runbooks=env.monitoring.runbook_base_url,
                resource=name,
                namespace=POSTGRES,
                position=(6 * column, 4 * row, 6, 4),
                kind="stat",
            )
            panel["title"] = f"{name}: {metric}"
            panels.append(panel)
    top = 4 * len(_servers(env))
    regions = ["primary", "paired"] if env.uses_paired_region else ["primary"]
    vaults = [env.vault_name(region) for region in regions]
    for row, vault in enumerate(vaults):
        for column, alert in enumerate(_metric_alerts(env, {"vault"})):
            panel = _panel(
                alert,
                alert.threshold,
                runbooks=env.monitoring.runbook_base_url,
                resource=vault,
                namespace=VAULT,
                position=(6 * column, top + 6 * row, 6, 6),
            )
            panel["title"] = f"{vault}: {alert.metric}"
            panels.append(panel)
    return _dashboard(env, "overview", "overview", panels, [])


def render() -> dict[Path, str]:
    """Every dashboard file, by path, as the JSON text to commit."""
    files: dict[Path, str] = {}
    for env in load_environments(ENVIRONMENTS):
        for name, build in (("overview", overview_dashboard), ("server", server_dashboard)):
            files[OUT / env.name / f"{name}.json"] = json.dumps(build(env), indent=2) + "\n"
    return files


def main() -> None:
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
