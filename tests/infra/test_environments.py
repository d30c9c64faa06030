"""Environment files: an invalid one fails early, naming the file, the field and what is allowed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mapper_infra.config import load_environment, load_environments
from mapperdb.errors import ConfigError

ENV_DIR = Path(__file__).resolve().parents[2] / "infra/environments"


def write_env(tmp_path: Path, name: str, change: dict[str, Any]) -> Path:
    """prod.toml with ``change`` ({"server.workload": "batch"}) applied, as ``<name>.toml``."""
    data = tomllib.loads((ENV_DIR / "prod.toml").read_text())
    data["name"] = name
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf)
        else:
            node[leaf] = value
    path = tmp_path / f"{name}.toml"
    path.write_text(to_toml(data))
    return path


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML writing for these files (tables, arrays of tables, scalars, lists)."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"[[{prefix}{key}]]\n" + to_toml(item))
        else:
            lines.append(f"{toml_value(key) if '.' in key else key} = {toml_value(value)}")
    out = "\n".join(lines) + "\n"
    for key, value in tables:
        out += f"[{prefix}{key}]\n" + to_toml(value, f"{prefix}{key}.")
    return out


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def test_the_shipped_files_are_valid() -> None:
    assert [env.name for env in load_environments(ENV_DIR)] == ["dev", "prod", "staging"]


def test_round_trip_of_the_test_writer(tmp_path: Path) -> None:
    assert load_environment(write_env(tmp_path, "copy", {})).server.sku == "GP_Standard_D4ds_v5"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"server.workload": "batch"},
            r"server\.workload: Input should be 'oltp', 'mixed' or 'analytics'",
        ),
        (
            {"server.sku": "GP_Standard_D3ds_v5"},
            r"server\.sku: unknown Flexible Server SKU.*D4ds_v5",
        ),
        ({"keys.key_type": "EC"}, r"keys\.key_type: Input should be 'RSA' or 'RSA-HSM'"),
        (
            {"server.backup_retention_days": 90},
            r"server\.backup_retention_days: .*less than or equal to 35",
        ),
        ({"tags.owner": None}, r"tags\.owner: Field required"),
        ({"server.storage_tier": "P10"}, r"server: storage_tier P10 does not fit.*P15, P20, P30"),
        ({"server.colour": "blue"}, r"server\.colour: Extra inputs are not permitted"),
        ({"network.paired": None}, r"paired_location and \[network\.paired\]"),
        (
            {"server.parameters": {"logfiles.retention_days": "30"}},
            r"server\.parameters: .*logfiles\.retention_days = '30'.*from 4 to 7",
        ),
        (
            {"archive.delete_after_days": 10},
            r"archive: .*cool_after_days < archive_after_days < delete_after_days",
        ),
    ],
)
def test_invalid_file_names_file_field_and_allowed_values(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = write_env(tmp_path, "bad", change)
    with pytest.raises(ConfigError, match=message) as caught:
        load_environment(path)
    assert caught.value.message.startswith(f"{path}: ")
    assert "\n" not in caught.value.message


def test_burstable_with_replicas_is_refused(tmp_path: Path) -> None:
    path = write_env(tmp_path, "tiny", {"server.sku": "B_Standard_B2ms"})
    with pytest.raises(ConfigError, match="Burstable servers support neither read replicas"):
        load_environment(path)


def test_synth_fails_before_importing_the_bindings(tmp_path: Path) -> None:
    write_env(tmp_path, "bad", {"server.workload": "batch"})
    # A fresh interpreter, so that this session's own synthesis does not hide the import.
    code = (
        "import sys; from pathlib import Path; from mapperdb.errors import ConfigError\n"
        "from mapperdb.infra.synth import synth\n"
        "try:\n"
        f"    synth(None, Path({str(tmp_path / 'out')!r}), Path({str(tmp_path)!r}))\n"
        "except ConfigError as exc:\n"
        "    print(exc.message)\n"
        "    print('cdktf_cdktf_provider_azurerm' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    message, imported = done.stdout.splitlines()
    assert "server.workload: Input should be 'oltp', 'mixed' or 'analytics'" in message
    assert imported == "False"


def test_cli_unknown_environment_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mapperdb", "synth", "--env", "qa"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ENV_DIR.parents[1],
    )
    assert done.returncode == 2
    assert "unknown environment qa" in done.stderr
    assert "dev, prod, staging" in done.stderr
    assert "Traceback" not in done.stderr


def test_derived_global_names_must_fit_azure_limits(tmp_path: Path) -> None:
    path = write_env(tmp_path, "production", {"prefix": "lmdbcorp"})
    with pytest.raises(ConfigError, match=r"'lmdbcorp-production-kv-paired' is longer than 24"):
        load_environment(path)


def test_constructs_never_branch_on_the_environment_name() -> None:
    """Environments differ by data: no construct may name one (STYLE.md)."""
    sources = (ENV_DIR.parent / "mapper_infra").rglob("*.py")
    for source in sources:
        text = source.read_text()
        for name in ("dev", "staging", "prod"):
            assert f'"{name}"' not in text and f"'{name}'" not in text, f"{source}: {name}"


def test_two_environments_sharing_a_state_location_are_refused(tmp_path: Path) -> None:
    write_env(tmp_path, "blue", {})
    write_env(tmp_path, "green", {})
    with pytest.raises(ConfigError, match=r"green\.toml: backend: state location "):
        load_environments(tmp_path, ["blue"])


def test_the_shipped_environments_keep_state_apart() -> None:
    locations = [env.backend.location for env in load_environments(ENV_DIR)]
    assert len(set(locations)) == len(locations)


def test_a_replica_smaller_than_the_primary_is_refused_by_name(tmp_path: Path) -> None:
    data = tomllib.loads((ENV_DIR / "prod.toml").read_text())
    data["replicas"][1]["sku"] = "GP_Standard_D2ds_v5"
    path = write_env(tmp_path, "small", {"replicas": data["replicas"]})
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    assert caught.value.message == (
        f"{path}: (top level): replica 'paired' (GP_Standard_D2ds_v5) is smaller than the "
        "primary (GP_Standard_D4ds_v5); scale the replicas up first, then the primary"
    )


def test_a_larger_replica_is_accepted_and_gets_its_own_parameters(tmp_path: Path) -> None:
    data = tomllib.loads((ENV_DIR / "prod.toml").read_text())
    data["replicas"][1]["sku"] = "GP_Standard_D8ds_v5"
    env = load_environment(write_env(tmp_path, "big", {"replicas": data["replicas"]}))
    values = {p.name: p.value for p in env.parameters(env.replicas[1])}
    assert int(values["max_connections"]) >= int(
        next(p.value for p in env.parameters() if p.name == "max_connections")
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"keys.notify_before_expiry": "P7D"},
            r"keys: need rotate_before_expiry < notify_before_expiry < expire_after",
        ),
        (
            {"monitoring.alerts": {"postgres-cpus": {"threshold": 80}}},
            r"monitoring: unknown alert postgres-cpus; the catalog \(alerts\.toml\) has",
        ),
        (
            {"monitoring.alerts": {"postgres-cpu": {"threshold": "high"}}},
            r"monitoring\.alerts\.postgres-cpu\.threshold: Input should be a valid number",
        ),
        (
            {"server.virtual_endpoint_replica": "zone2"},
            r"virtual_endpoint_replica 'zone2' is not a replica; replicas are zone3, paired",
        ),
        ({"backup.immutability": "Disabled"}, r"backup\.immutability: Input should be"),
        ({"paired_location": "marsnorth"}, r"paired_location: unknown region 'marsnorth'"),
        ({"backup.soft_delete": "Off"}, r"backup\.soft_delete: Input should be 'On' or 'AlwaysOn'"),
    ],
)
def test_day_two_fields_are_validated(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_environment(write_env(tmp_path, "bad", change))


def test_endpoint_pairs_with_the_paired_region_replica_unless_told() -> None:
    (prod,) = load_environments(ENV_DIR, ["prod"])
    assert prod.endpoint_replica is not None and prod.endpoint_replica.region == "paired"


def test_several_problems_are_one_line_naming_every_field(tmp_path: Path) -> None:
    path = write_env(
        tmp_path, "many", {"server.workload": "batch", "server.sku": 5, "cache.capacity": "x"}
    )
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    message = caught.value.message
    assert "\n" not in message and message.startswith(f"{path}: ")
    fields = ["server.workload", "server.sku", "cache.capacity"]
    assert all(field in message for field in fields), message
    assert "also wrong: " in message
