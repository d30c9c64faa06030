"""``mapperdb tune`` against Microsoft's documented max_connections table and the formulas."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mapperdb.errors import ConfigError
from mapperdb.platform.parameters import Workload, tune
from mapperdb.platform.skus import SKUS, find_sku

# From Microsoft Learn, "Limits in Azure Database for PostgreSQL flexible server", typed in
# again here (vCores, GiB, default max_connections) so a wrong row in skus.py fails.
DOCUMENTED = {
    "B1ms": (1, 2, 50),
    "B2s": (2, 4, 429),
    "B2ms": (2, 8, 859),
    "B4ms": (4, 16, 1718),
    "B8ms": (8, 32, 3437),
    "B12ms": (12, 48, 5000),
    "B20ms": (20, 80, 5000),
    "D2ds_v5": (2, 8, 859),
    "D4s_v3": (4, 16, 1718),
    "D8ads_v5": (8, 32, 3437),
    "D16ds_v4": (16, 64, 5000),
    "D96ds_v5": (96, 384, 5000),
    "E2ds_v5": (2, 16, 1718),
    "E4s_v3": (4, 32, 3437),
    "E8ads_v5": (8, 64, 5000),
    "E20ds_v4": (20, 160, 5000),
    "E64ds_v5": (64, 432, 5000),
    "E96ads_v5": (96, 672, 5000),
}
GIB_KB = 1024 * 1024


def values(sku: str, workload: Workload = Workload.OLTP) -> dict[str, str]:
    return {p.name: p.value for p in tune(find_sku(sku), workload)}


@pytest.mark.parametrize(("size", "row"), DOCUMENTED.items())
def test_sku_table_matches_the_documented_limits(size: str, row: tuple[int, int, int]) -> None:
    sku = find_sku(size)
    assert (sku.vcores, sku.memory_gib, sku.max_connections) == row
    assert values(size)["max_connections"] == str(row[2])


def test_max_connections_never_above_azure_default_for_any_sku_or_workload() -> None:
    for sku in SKUS.values():
        for workload in Workload:
            params = {p.name: p for p in tune(sku, workload)}
            assert int(params["max_connections"].value) <= sku.max_connections
            assert not params["max_connections"].allowed.accepts(str(sku.max_connections + 1))


@pytest.mark.parametrize(
    ("size", "shared_buffers_gib"),
    [("B1ms", 0.25), ("B2s", 1), ("D4ds_v5", 4), ("E64ds_v5", 108)],
)
def test_memory_formulas(size: str, shared_buffers_gib: float) -> None:
    sku = find_sku(size)
    got = values(size)
    memory_kb = sku.memory_gib * GIB_KB
    # shared_buffers: 25% of memory (12.5% at 2 GiB), in 8 kB pages.
    assert int(got["shared_buffers"]) * 8 == shared_buffers_gib * GIB_KB
    # effective_cache_size: 75% of memory, in 8 kB pages.
    assert int(got["effective_cache_size"]) * 8 == memory_kb * 3 // 4
    # maintenance_work_mem: memory/16 capped at 2 GiB (PostgreSQL's maximum, 2097151 kB).
    assert int(got["maintenance_work_mem"]) == min(memory_kb // 16, 2 * GIB_KB - 1)


def test_work_mem_grows_with_the_analytic_share_and_stays_bounded() -> None:
    sku = find_sku("D4ds_v5")
    by_workload = {w: int(values("D4ds_v5", w)["work_mem"]) for w in Workload}
    assert (
        by_workload[Workload.OLTP] < by_workload[Workload.MIXED] < by_workload[Workload.ANALYTICS]
    )
    memory_kb = sku.memory_gib * GIB_KB
    shared_kb = memory_kb // 4
    assert by_workload[Workload.MIXED] == (memory_kb - shared_kb) * 4 // sku.max_connections
    for workload in Workload:
        for size in ("B1ms", "D2ds_v5", "E96ds_v5"):
            work_mem = int(values(size, workload)["work_mem"])
            assert 4096 <= work_mem <= find_sku(size).memory_gib * GIB_KB // 16


def test_burstable_gets_no_pgbouncer_and_no_query_store() -> None:
    burstable = values("B2ms")
    assert "pgbouncer.enabled" not in burstable
    assert "pg_qs.query_capture_mode" not in burstable
    general = values("GP_Standard_D2ds_v5")
    assert general["pgbouncer.enabled"] == "true"
    assert general["pgms_wait_sampling.query_capture_mode"] == "all"


def test_every_parameter_has_a_reason() -> None:
    for param in tune(find_sku("E4ds_v5"), Workload.MIXED):
        assert len(param.reason) > 20, param.name


def test_out_of_range_override_is_refused_with_the_allowed_range() -> None:
    with pytest.raises(ConfigError, match=r"logfiles\.retention_days = '3'.*from 4 to 7"):
        tune(find_sku("D4ds_v5"), Workload.OLTP, {"logfiles.retention_days": "3"})
    with pytest.raises(ConfigError, match=r"max_connections.*from 25 to 1718"):
        tune(find_sku("D4ds_v5"), Workload.OLTP, {"max_connections": "2000"})
    with pytest.raises(ConfigError, match=r"TLSv1\.2, TLSv1\.3"):
        tune(find_sku("D4ds_v5"), Workload.OLTP, {"ssl_min_protocol_version": "TLSv1.1"})
    with pytest.raises(ConfigError, match="not managed here"):
        tune(find_sku("D4ds_v5"), Workload.OLTP, {"fsync": "off"})


def test_unknown_sku_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown Flexible Server SKU 'D3ds_v5'.*D4ds_v5"):
        find_sku("D3ds_v5")
    with pytest.raises(ConfigError):
        find_sku("MO_Standard_D4ds_v5")  # right size, wrong tier prefix


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapperdb", *args], capture_output=True, text=True, check=False
    )


def test_cli_prints_stable_json() -> None:
    done = run_cli("tune", "--sku", "D4ds_v5", "--workload", "analytics", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["sku"] == "GP_Standard_D4ds_v5"
    assert (data["vcores"], data["memory_gib"], data["workload"]) == (4, 16, "analytics")
    by_name = {p["name"]: p for p in data["parameters"]}
    assert by_name["max_connections"]["value"] == "1718"
    assert set(by_name["work_mem"]) == {"name", "value", "reason", "allowed"}


def test_cli_unknown_sku_is_a_usage_error_without_traceback() -> None:
    done = run_cli("tune", "--sku", "Z9")
    assert done.returncode == 2
    assert done.stderr.startswith("mapperdb: error: unknown Flexible Server SKU 'Z9'")
    assert "Traceback" not in done.stderr


def test_sku_spellings_of_the_portal_cli_and_azurerm() -> None:
    assert find_sku("D4ds_v5") == find_sku("Standard_D4ds_v5") == find_sku("GP_Standard_D4ds_v5")
    with pytest.raises(ConfigError) as info:
        find_sku("Standard_D3ds_v5")
    assert "D4ds_v5" in info.value.message and "E4ds_v5" not in info.value.message
    with pytest.raises(ConfigError):
        find_sku("MO_Standard_D4ds_v5")  # a real size under the wrong tier prefix
