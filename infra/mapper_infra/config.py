"""One validated file per environment (``infra/environments/<name>.toml``).

Environments differ by this data only: the constructs never ask which environment they build.
An invalid file fails with the file, the field and the allowed values.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mapperdb.errors import ConfigError
from mapperdb.tune.parameters import Parameter, Workload, tune
from mapperdb.tune.skus import Sku, find_sku

# ISO 8601 durations as Key Vault and Data Protection take them (P1Y, P30D, P12W, P3M).
Duration = Annotated[str, Field(pattern=r"^P\d+[DWMY]$")]
Zone = Literal["1", "2", "3"]
Uuid = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


MAX_GLOBAL_NAME = 24


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tags(Strict):
    owner: str = Field(min_length=1)
    cost_center: str = Field(min_length=1)
    data_classification: Literal["public", "internal", "confidential", "restricted"]

    def as_dict(self, environment: str) -> dict[str, str]:
        return {
            "environment": environment,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "data-classification": self.data_classification,
        }


class Backend(Strict):
    """Where Terraform keeps this environment's state (an azurerm backend)."""

    resource_group_name: str
    storage_account_name: Annotated[str, Field(pattern=r"^[a-z0-9]{3,24}$")]
    container_name: str
    key: str


class RegionNetwork(Strict):
    address_space: str
    server_subnet: str
    endpoint_subnet: str

    @model_validator(mode="after")
    def _subnets_inside(self) -> RegionNetwork:
        space = ipaddress.ip_network(self.address_space)
        subnets = [
            ipaddress.ip_network(self.server_subnet),
            ipaddress.ip_network(self.endpoint_subnet),
        ]
        if not all(subnet.subnet_of(space) for subnet in subnets):  # type: ignore[arg-type]
            raise ValueError(f"subnets must lie inside address_space {self.address_space}")
        if subnets[0].overlaps(subnets[1]):
            raise ValueError("server_subnet and endpoint_subnet overlap")
        return self

    @field_validator("address_space", "server_subnet", "endpoint_subnet")
    @classmethod
    def _cidr(cls, value: str) -> str:
        ipaddress.ip_network(value)
        return value


class Network(Strict):
    primary: RegionNetwork
    paired: RegionNetwork | None = None


class MaintenanceWindow(Strict):
    day_of_week: int = Field(ge=0, le=6)
    start_hour: int = Field(ge=0, le=23)
    start_minute: int = Field(ge=0, le=59)


class EntraAdmin(Strict):
    object_id: Uuid
    principal_name: str


# Premium SSD performance tiers a Flexible Server disk of each size may use (azurerm and Azure's
# compute-and-storage docs): at least the size's own tier, at most P50 up to 4 TiB.
StorageTier = Literal["P4", "P6", "P10", "P15", "P20", "P30", "P40", "P50"]
TIERS: tuple[str, ...] = get_args(StorageTier)
MIN_TIER = {32768: "P4", 65536: "P6", 131072: "P10", 262144: "P15", 524288: "P20",
            1048576: "P30", 2097152: "P40", 4193280: "P50", 4194304: "P50"}  # fmt: skip


class Server(Strict):
    sku: str
    workload: Workload
    storage_mb: Literal[32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4193280, 4194304]
    storage_tier: StorageTier
    auto_grow: bool
    zone: Zone
    standby_zone: Zone | None = None  # set: zone-redundant high availability
    backup_retention_days: int = Field(ge=7, le=35)
    geo_redundant_backup: bool
    password_auth: bool
    # Bump to rotate the write-only admin password (only with password_auth).
    password_version: int = Field(default=1, ge=1)
    maintenance_window: MaintenanceWindow
    entra_admin: EntraAdmin
    parameters: dict[str, str] = Field(default_factory=dict)
    # Server connections the environment's pools (app pools, PgBouncer) open at most;
    # `mapperdb policy` checks max_connections covers them (LMX005).
    pooled_connections: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _tier_fits_storage(self) -> Server:
        low = TIERS.index(MIN_TIER[self.storage_mb])
        allowed = TIERS[low:]
        if self.storage_tier not in allowed:
            raise ValueError(
                f"storage_tier {self.storage_tier} does not fit storage_mb {self.storage_mb}; "
                f"use one of {', '.join(allowed)}"
            )
        return self

    @field_validator("sku")
    @classmethod
    def _known_sku(cls, value: str) -> str:
        try:
            return find_sku(value).sku_name
        except ConfigError as exc:
            raise ValueError(exc.message) from None

    @property
    def flexible_sku(self) -> Sku:
        return find_sku(self.sku)


class Replica(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,20}$")]
    region: Literal["primary", "paired"]
    zone: Zone


class Keys(Strict):
    vault_sku: Literal["standard", "premium"]
    key_type: Literal["RSA", "RSA-HSM"]
    key_size: Literal[2048, 3072, 4096]
    expire_after: Duration
    rotate_before_expiry: Duration
    soft_delete_retention_days: int = Field(ge=7, le=90)


class Monitoring(Strict):
    log_retention_days: int = Field(ge=30, le=730)
    critical_emails: list[str] = Field(min_length=1)
    warning_emails: list[str] = Field(min_length=1)
    info_emails: list[str] = Field(min_length=1)


class Backup(Strict):
    vault_redundancy: Literal["LocallyRedundant", "ZoneRedundant", "GeoRedundant"]
    weekly_retention: Duration
    monthly_retention: Duration
    yearly_retention: Duration


class Archive(Strict):
    replication: Literal["LRS", "ZRS", "GRS", "GZRS", "RAGRS", "RAGZRS"]
    soft_delete_days: int = Field(ge=1, le=365)
    cool_after_days: int = Field(ge=1)
    archive_after_days: int = Field(ge=1)
    delete_after_days: int = Field(ge=1)
    audit_immutability_days: int = Field(ge=1, le=146000)

    @model_validator(mode="after")
    def _tiers_in_order(self) -> Archive:
        if not self.cool_after_days < self.archive_after_days < self.delete_after_days:
            raise ValueError("need cool_after_days < archive_after_days < delete_after_days")
        if self.delete_after_days < self.audit_immutability_days:
            raise ValueError("delete_after_days must not be shorter than audit_immutability_days")
        return self


class Environment(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,9}$")]
    prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,7}$")]
    location: str
    paired_location: str | None = None
    tags: Tags
    backend: Backend
    network: Network
    server: Server
    replicas: list[Replica] = Field(default_factory=list)
    keys: Keys
    monitoring: Monitoring
    backup: Backup
    archive: Archive

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        sku = self.server.flexible_sku
        needs_pair = self.server.geo_redundant_backup or any(
            r.region == "paired" for r in self.replicas
        )
        if needs_pair and (self.paired_location is None or self.network.paired is None):
            raise ValueError(
                "geo_redundant_backup or a replica in the paired region needs paired_location "
                "and [network.paired]"
            )
        if sku.burstable and (self.replicas or self.server.standby_zone):
            raise ValueError(
                "Burstable servers support neither read replicas nor high availability"
            )
        if self.server.standby_zone == self.server.zone:
            raise ValueError("server.standby_zone must differ from server.zone")
        if self.keys.key_type == "RSA-HSM" and self.keys.vault_sku != "premium":
            raise ValueError("keys.key_type RSA-HSM needs keys.vault_sku premium")
        # Key Vault and storage account names are global and at most 24 characters.
        for name in (self.vault_name("primary"), self.vault_name("paired"), self.archive_account):
            if len(name) > MAX_GLOBAL_NAME:
                raise ValueError(
                    f"derived name {name!r} is longer than {MAX_GLOBAL_NAME}; "
                    "shorten prefix or name"
                )
        return self

    @property
    def stem(self) -> str:
        """The start of every resource name, e.g. ``lmdb-prod``."""
        return f"{self.prefix}-{self.name}"

    def vault_name(self, region: str) -> str:
        return f"{self.stem}-kv" if region == "primary" else f"{self.stem}-kv-{region}"

    @property
    def archive_account(self) -> str:
        return f"{self.prefix}{self.name}archive"

    @property
    def uses_paired_region(self) -> bool:
        return self.network.paired is not None and self.paired_location is not None

    def parameters(self) -> list[Parameter]:
        """The server parameters, tuned for the SKU and range-checked (ConfigError if not)."""
        return tune(self.server.flexible_sku, self.server.workload, self.server.parameters)


def _location(error: dict[str, object]) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"  # type: ignore[attr-defined]


def load_environment(path: Path) -> Environment:
    """Read and validate one environment file; every problem names file and field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such environment file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        env = Environment.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = re.sub(r"^Value error, ", "", str(first["msg"]))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        given = first.get("input")
        # A whole table as "input" says nothing the message does not; a scalar helps.
        got = "" if isinstance(given, dict | list) else f"; got {given!r}"
        raise ConfigError(f"{path}: {_location(dict(first))}: {message}{got}{more}") from None
    if env.name != path.stem:
        raise ConfigError(f"{path}: name: must match the file name {path.stem!r}; got {env.name!r}")
    try:
        env.parameters()
    except ConfigError as exc:
        raise ConfigError(f"{path}: server.parameters: {exc.message}") from None
    return env


def load_environments(directory: Path, names: list[str] | None = None) -> list[Environment]:
    """The named environments (all when ``names`` is None), every file validated."""
    available = {path.stem: path for path in sorted(directory.glob("*.toml"))}
    if not available:
        raise ConfigError(f"{directory}: no environment files (<name>.toml)")
    unknown = [name for name in names or [] if name not in available]
    if unknown:
        raise ConfigError(
            f"unknown environment {', '.join(unknown)}; {directory} has {', '.join(available)}"
        )
    return [load_environment(available[name]) for name in names or list(available)]
