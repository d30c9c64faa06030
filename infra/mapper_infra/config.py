"""One validated file per environment (``infra/environments/<name>.toml``).

Environments differ by this data only: the constructs never ask which environment they build.
An invalid file fails with the file, the field and the allowed values.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mapper_infra.catalog import Alert, AlertSetting, apply_settings
from mapperdb.errors import ConfigError
from mapperdb.platform.parameters import Parameter, Workload, tune
from mapperdb.platform.skus import Sku, find_sku

# ISO 8601 durations as Key Vault and Data Protection take them (P1Y, P30D, P12W, P3M).
Duration = Annotated[str, Field(pattern=r"^P\d+[DWMY]$")]
Zone = Literal["1", "2", "3"]
# The platform's shared data (SKU table, tuner, extension allow-list) is imported here and only
# here; constructs ask the validated model, so moving that data changes the imports above alone.
_DAYS = {"D": 1, "W": 7, "M": 30, "Y": 365}


def duration_days(duration: str) -> int:
    """``P30D`` -> 30, ``P1Y`` -> 365 (months as 30 days: for comparisons, not calendars)."""
    return int(duration[1:-1]) * _DAYS[duration[-1]]


Uuid = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


MAX_GLOBAL_NAME = 24
# Regions the stacks may use, with the display name Service Health alerts speak.
REGION_NAMES = {
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "swedencentral": "Sweden Central",
    "germanywestcentral": "Germany West Central",
    "francecentral": "France Central",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "eastus": "East US",
    "eastus2": "East US 2",
    "westus2": "West US 2",
    "centralus": "Central US",
}


def _known_region(value: str) -> str:
    if value not in REGION_NAMES:
        raise ValueError(f"unknown region {value!r}; known are {', '.join(REGION_NAMES)}")
    return value


Region = Annotated[str, AfterValidator(_known_region)]
PGBOUNCER_METRICS = "metrics.pgbouncer_diagnostics"


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

    @property
    def location(self) -> str:
        """Where the state lives; no two environments may share one (see load_environments)."""
        return f"{self.storage_account_name}/{self.container_name}"


class Protection(Strict):
    """What stops a deletion of what cannot be recreated: servers, keys, identities, backups.

    ``delete_locks``: a CanNotDelete management lock on the servers, replicas, Key Vaults,
    identities, backup vault and archive account (stops people and scripts in the portal or CLI).
    ``prevent_destroy``: Terraform refuses any plan that deletes or replaces them (stops a
    pipeline). docs/infra.md "Deliberate removal" says how to remove one on purpose.
    """

    delete_locks: bool = True
    prevent_destroy: bool = True


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
# Provisioned IOPS of each Premium SSD tier (Azure's managed-disk docs), for IOPS alerts.
TIER_IOPS = {"P4": 120, "P6": 240, "P10": 500, "P15": 1100, "P20": 2300, "P30": 5000,
             "P40": 7500, "P50": 7500}  # fmt: skip
MIN_TIER = {32768: "P4", 65536: "P6", 131072: "P10", 262144: "P15", 524288: "P20",
            1048576: "P30", 2097152: "P40", 4193280: "P50", 4194304: "P50"}  # fmt: skip


def sku_name(value: str) -> str:
    """azurerm's ``sku_name`` of a known Flexible Server size (ValueError if unknown)."""
    try:
        return find_sku(value).sku_name
    except ConfigError as exc:
        raise ValueError(exc.message) from None


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
    # azurerm restarts a server after a static parameter changes unless told not to; off, such a
    # change waits for a restart in the maintenance window (docs/infra.md "Server parameters").
    restart_on_parameter_change: bool = False
    # The replica the virtual endpoint pairs with (None: the paired-region one, else the first).
    virtual_endpoint_replica: str | None = None
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
        return sku_name(value)

    @property
    def flexible_sku(self) -> Sku:
        return find_sku(self.sku)

    @property
    def pgbouncer(self) -> bool:
        """Azure runs the built-in PgBouncer on every tier but Burstable (see mapperdb tune)."""
        return not self.flexible_sku.burstable


class Replica(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,20}$")]
    region: Literal["primary", "paired"]
    zone: Zone
    # None: the primary's SKU. Never smaller than the primary's (validated by Environment).
    sku: str | None = None

    @field_validator("sku")
    @classmethod
    def _known_sku(cls, value: str | None) -> str | None:
        return None if value is None else sku_name(value)


class Keys(Strict):
    vault_sku: Literal["standard", "premium"]
    key_type: Literal["RSA", "RSA-HSM"]
    key_size: Literal[2048, 3072, 4096]
    expire_after: Duration
    rotate_before_expiry: Duration
    # Key Vault's KeyNearExpiry event (and the keyvault-key-near-expiry alert) comes this long
    # before expiry: earlier than the rotation, so a failing rotation is noticed in time.
    notify_before_expiry: Duration
    soft_delete_retention_days: int = Field(ge=7, le=90)

    @model_validator(mode="after")
    def _notice_before_rotation(self) -> Keys:
        expire = duration_days(self.expire_after)
        rotate = duration_days(self.rotate_before_expiry)
        notify = duration_days(self.notify_before_expiry)
        if not rotate < notify < expire:
            raise ValueError(
                "need rotate_before_expiry < notify_before_expiry < expire_after, so the expiry "
                f"notice comes before the rotation; got {rotate}, {notify} and {expire} days"
            )
        return self


class Monitoring(Strict):
    log_retention_days: int = Field(ge=30, le=730)
    critical_emails: list[str] = Field(min_length=1)
    warning_emails: list[str] = Field(min_length=1)
    info_emails: list[str] = Field(min_length=1)
    # Alert descriptions link <runbook_base_url>/<alert id>.md (this repo's docs/runbooks/).
    runbook_base_url: Annotated[str, Field(pattern=r"^https://\S+/docs/runbooks$")]
    # Per-alert changes to the catalog's defaults (mapper_infra/data/alerts.toml).
    alerts: dict[str, AlertSetting] = Field(default_factory=dict)
    # Entra group whose members read the dashboards (Grafana Viewer); the server's Entra admin
    # group administers them (Grafana Admin).
    dashboard_viewers: Uuid

    @model_validator(mode="after")
    def _known_alerts(self) -> Monitoring:
        apply_settings(self.alerts)
        return self

    @property
    def catalog(self) -> tuple[Alert, ...]:
        """The alerts this environment gets: the catalog with its settings applied."""
        return apply_settings(self.alerts)

    def runbook_url(self, alert: Alert) -> str:
        return f"{self.runbook_base_url}/{alert.id}.md"


class Backup(Strict):
    vault_redundancy: Literal["LocallyRedundant", "ZoneRedundant", "GeoRedundant"]
    weekly_retention: Duration
    monthly_retention: Duration
    yearly_retention: Duration
    # "AlwaysOn" cannot be turned off again; "Off" is not offered.
    soft_delete: Literal["On", "AlwaysOn"] = "On"
    # "Locked" is one-way (nobody can shorten retention afterwards); policy CKV_LM_103 wants it.
    immutability: Literal["Unlocked", "Locked"] = "Unlocked"

    @property
    def cross_region_restore(self) -> bool:
        """Restores in the paired region are possible only from a geo-redundant vault."""
        return self.vault_redundancy == "GeoRedundant"


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


class Cache(Strict):
    """The service's Redis (Azure Cache for Redis): private, TLS only, Entra ID, no keys."""

    sku_name: Literal["Standard", "Premium"]
    capacity: int = Field(ge=0, le=6)
    # The service's managed identity always gets access; these are other identities (alias ->
    # Entra object id) allowed to read and write keys, e.g. a job's.
    app_identities: dict[str, Uuid] = Field(default_factory=dict)

    @property
    def family(self) -> str:
        return "P" if self.sku_name == "Premium" else "C"


class Environment(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,9}$")]
    prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,7}$")]
    location: Region
    paired_location: Region | None = None
    tags: Tags
    backend: Backend
    network: Network
    server: Server
    replicas: list[Replica] = Field(default_factory=list)
    keys: Keys
    monitoring: Monitoring
    backup: Backup
    archive: Archive
    cache: Cache
    protection: Protection = Protection()

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
        names = [r.name for r in self.replicas]
        if len(set(names)) != len(names):
            raise ValueError(f"replica names must be unique; got {', '.join(names)}")
        for replica in self.replicas:
            # Microsoft: a replica smaller than its primary falls behind; scale replicas up
            # first, then the primary (and the primary down first, then the replicas).
            small = self.replica_sku(replica)
            if (small.vcores, small.memory_gib) < (sku.vcores, sku.memory_gib):
                raise ValueError(
                    f"replica {replica.name!r} ({small.sku_name}) is smaller than the primary "
                    f"({sku.sku_name}); scale the replicas up first, then the primary"
                )
        wanted = self.server.virtual_endpoint_replica
        if wanted is not None and wanted not in names:
            raise ValueError(
                f"server.virtual_endpoint_replica {wanted!r} is not a replica; "
                f"replicas are {', '.join(names) or 'none'}"
            )
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

    @property
    def grafana_name(self) -> str:
        return f"{self.stem}-grafana"

    @property
    def cache_name(self) -> str:
        return f"{self.stem}-cache"

    @property
    def resource_group_name(self) -> str:
        return f"{self.stem}-rg"

    def server_name(self, replica: Replica | None = None) -> str:
        """The primary's name, or a replica's."""
        return f"{self.stem}-pg" if replica is None else f"{self.stem}-pg-{replica.name}"

    def vault_name(self, region: str) -> str:
        return f"{self.stem}-kv" if region == "primary" else f"{self.stem}-kv-{region}"

    @property
    def archive_account(self) -> str:
        return f"{self.prefix}{self.name}archive"

    def replica_sku(self, replica: Replica) -> Sku:
        return find_sku(replica.sku or self.server.sku)

    @property
    def endpoint_replica(self) -> Replica | None:
        """The replica the virtual endpoint pairs with: the one promoted in a regional outage.

        A zone failure is the primary's HA standby's job; a region failure is what the endpoint
        is for, and then the paired-region replica is the one that survives.
        """
        if not self.replicas:
            return None
        if self.server.virtual_endpoint_replica is not None:
            return next(r for r in self.replicas if r.name == self.server.virtual_endpoint_replica)
        paired = [r for r in self.replicas if r.region == "paired"]
        return (paired or self.replicas)[0]

    @property
    def uses_paired_region(self) -> bool:
        return self.network.paired is not None and self.paired_location is not None

    def parameters(self, replica: Replica | None = None) -> list[Parameter]:
        """The server parameters of the primary (or a replica's SKU), range-checked."""
        sku = self.replica_sku(replica) if replica else self.server.flexible_sku
        params = tune(sku, self.server.workload, self.server.parameters)
        if not sku.burstable:
            # The pgbouncer-clients-waiting alert reads PgBouncer metrics, off by default.
            switch = next(p for p in params if p.name == "metrics.autovacuum_diagnostics")
            params.append(
                replace(
                    switch,
                    name=PGBOUNCER_METRICS,
                    reason="enables the PgBouncer metrics the pgbouncer alerts read",
                )
            )
        return params


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
        # One line, the first problem in full; the others by field, so one edit can fix them all.
        others = sorted({_location(dict(e)) for e in exc.errors()[1:]} - {_location(dict(first))})
        more = f" (also wrong: {', '.join(others)})" if others else ""
        given = first.get("input")
        # A whole table as "input" says nothing the message does not; a scalar helps.
        got = "" if isinstance(given, dict | list) else f"; got {given!r}"
        raise ConfigError(f"{path}: {_location(dict(first))}: {message}{got}{more}") from None
    if env.name != path.stem:
        raise ConfigError(f"{path}: name: must match the file name {path.stem!r}; got {env.name!r}")
    try:
        for replica in (None, *env.replicas):
            env.parameters(replica)
    except ConfigError as exc:
        raise ConfigError(f"{path}: server.parameters: {exc.message}") from None
    return env


def check_state_locations(envs: dict[Path, Environment]) -> None:
    """Refuse two environments whose state shares a container: whoever may deploy one could
    read and overwrite the other's state (access is granted per container or account)."""
    seen: dict[str, Path] = {}
    for path, env in envs.items():
        where = env.backend.location
        if where in seen:
            raise ConfigError(
                f"{path}: backend: state location {where} is also {seen[where]}'s; give every "
                "environment its own container_name (or storage_account_name)"
            )
        seen[where] = path


def load_environments(directory: Path, names: list[str] | None = None) -> list[Environment]:
    """The named environments (all when ``names`` is None); every file is validated, alone and
    against the others (state locations), even when only some are asked for."""
    available = {path.stem: path for path in sorted(directory.glob("*.toml"))}
    if not available:
        raise ConfigError(f"{directory}: no environment files (<name>.toml)")
    unknown = [name for name in names or [] if name not in available]
    if unknown:
        raise ConfigError(
            f"unknown environment {', '.join(unknown)}; {directory} has {', '.join(available)}"
        )
    loaded = {path: load_environment(path) for path in available.values()}
    check_state_locations(loaded)
    return [loaded[available[name]] for name in names or list(available)]
