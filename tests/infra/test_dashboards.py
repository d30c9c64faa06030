"""Dashboards as code: generated from the alert catalog and the environments, committed under
infra/dashboards/, drawing each alert's own threshold (no synthesis needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapper_infra import catalog
from mapper_infra.config import load_environments
from mapper_infra.dashboards import ENVIRONMENTS, OUT, render, server_dashboard
from mapper_infra.watch import watched_server

REPO = Path(__file__).resolve().parents[2]
# The panels: CPU, memory, IOPS, storage, connections, replication lag, transaction ID
# age, PgBouncer (where PgBouncer runs).
REQUIRED = {
    "cpu_percent",
    "memory_percent",
    "iops",
    "storage_percent",
    "active_connections",
    "physical_replication_delay_in_seconds",
    "maximum_used_transactionIDs",
}


def test_the_committed_dashboards_are_the_generated_ones() -> None:
    generated = render()
    committed = {p: p.read_text(encoding="utf-8") for p in OUT.glob("*/*.json")}
    assert set(committed) == set(generated), "run: .venv/bin/python -m mapper_infra.dashboards"
    for path, text in generated.items():
        assert committed[path] == text, (
            f"{path} is stale; run .venv/bin/python -m mapper_infra.dashboards"
        )


@pytest.mark.parametrize("env", load_environments(ENVIRONMENTS), ids=lambda e: e.name)
def test_every_server_metric_alert_is_a_panel_at_its_threshold(env: object) -> None:
    from mapper_infra.config import Environment

    assert isinstance(env, Environment)
    board = server_dashboard(env)
    panels = {p["title"]: p for p in board["panels"]}
    primary = watched_server(env, "")
    wanted = REQUIRED | ({"client_connections_waiting"} if primary.pgbouncer else set())
    assert wanted <= set(panels)
    for alert in env.monitoring.catalog:
        if not isinstance(alert, catalog.MetricAlert) or alert.target == "vault":
            continue
        if alert.target == "pgbouncer" and not primary.pgbouncer:
            continue
        steps = panels[alert.metric]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[1]["value"] == primary.threshold(alert), alert.id
        runbook = panels[alert.metric]["links"][0]["url"].rsplit("/", 1)[1]
        assert (REPO / "docs" / "runbooks" / runbook).is_file(), runbook


def test_an_environments_threshold_change_moves_the_panel() -> None:
    env = load_environments(ENVIRONMENTS, ["dev"])[0]
    changed = env.model_copy(
        update={
            "monitoring": env.monitoring.model_copy(
                update={"alerts": {"postgres-cpu": catalog.AlertSetting(threshold=42)}}
            )
        }
    )
    [cpu] = [p for p in server_dashboard(changed)["panels"] if p["title"] == "cpu_percent"]
    assert cpu["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 42
    assert json.loads(json.dumps(cpu))  # plain JSON
