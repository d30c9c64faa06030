"""Azure Database for PostgreSQL Flexible Server compute sizes, as data.

Source: Microsoft Learn, "Limits in Azure Database for PostgreSQL flexible server"
(concepts-limits, "Maximum connections"): vCores, memory and the default ``max_connections`` of
every size. The default is also our ceiling: connections beyond it go through the built-in
PgBouncer, because each idle backend still costs ~10 MB that would come out of the caches.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mapperdb.errors import ConfigError


class Tier(StrEnum):
    BURSTABLE = "Burstable"
    GENERAL_PURPOSE = "GeneralPurpose"
    MEMORY_OPTIMIZED = "MemoryOptimized"


# The prefix azurerm's ``sku_name`` puts before the size, e.g. ``GP_Standard_D4ds_v5``.
_TIER_PREFIX = {Tier.BURSTABLE: "B", Tier.GENERAL_PURPOSE: "GP", Tier.MEMORY_OPTIMIZED: "MO"}


@dataclass(frozen=True)
class Sku:
    size: str  # e.g. "D4ds_v5"
    tier: Tier
    vcores: int
    memory_gib: int
    max_connections: int  # Azure's default for this memory size

    @property
    def sku_name(self) -> str:
        """The value of azurerm's ``sku_name``."""
        return f"{_TIER_PREFIX[self.tier]}_Standard_{self.size}"

    @property
    def memory_mib(self) -> int:
        return self.memory_gib * 1024

    @property
    def burstable(self) -> bool:
        return self.tier is Tier.BURSTABLE


def _family(
    tier: Tier, sizes: tuple[str, ...], rows: tuple[tuple[int, int, int], ...]
) -> list[Sku]:
    """Every generation suffix of one row shares vCores, memory and max_connections."""
    skus = []
    for vcores, memory_gib, max_connections in rows:
        letter = {Tier.GENERAL_PURPOSE: "D", Tier.MEMORY_OPTIMIZED: "E"}[tier]
        for suffix in sizes:
            size = f"{letter}{vcores}{suffix}"
            skus.append(Sku(size, tier, vcores, memory_gib, max_connections))
    return skus


_BURSTABLE = [
    Sku("B1ms", Tier.BURSTABLE, 1, 2, 50),
    Sku("B2s", Tier.BURSTABLE, 2, 4, 429),
    Sku("B2ms", Tier.BURSTABLE, 2, 8, 859),
    Sku("B4ms", Tier.BURSTABLE, 4, 16, 1718),
    Sku("B8ms", Tier.BURSTABLE, 8, 32, 3437),
    Sku("B12ms", Tier.BURSTABLE, 12, 48, 5000),
    Sku("B16ms", Tier.BURSTABLE, 16, 64, 5000),
    Sku("B20ms", Tier.BURSTABLE, 20, 80, 5000),
]
_GENERAL_PURPOSE = _family(
    Tier.GENERAL_PURPOSE,
    ("s_v3", "ds_v4", "ds_v5", "ads_v5"),
    (
        (2, 8, 859),
        (4, 16, 1718),
        (8, 32, 3437),
        (16, 64, 5000),
        (32, 128, 5000),
        (48, 192, 5000),
        (64, 256, 5000),
    ),
) + _family(Tier.GENERAL_PURPOSE, ("ds_v5", "ads_v5"), ((96, 384, 5000),))
_MEMORY_OPTIMIZED = (
    _family(
        Tier.MEMORY_OPTIMIZED,
        ("s_v3", "ds_v4", "ds_v5", "ads_v5"),
        (
            (2, 16, 1718),
            (4, 32, 3437),
            (8, 64, 5000),
            (16, 128, 5000),
            (32, 256, 5000),
            (48, 384, 5000),
            (64, 432, 5000),
        ),
    )
    + _family(Tier.MEMORY_OPTIMIZED, ("ds_v4", "ds_v5", "ads_v5"), ((20, 160, 5000),))
    + _family(Tier.MEMORY_OPTIMIZED, ("ds_v5", "ads_v5"), ((96, 672, 5000),))
)

SKUS: dict[str, Sku] = {sku.size: sku for sku in _BURSTABLE + _GENERAL_PURPOSE + _MEMORY_OPTIMIZED}


def find_sku(name: str) -> Sku:
    """Look up ``D4ds_v5``, the Azure CLI's ``Standard_D4ds_v5`` or azurerm's
    ``GP_Standard_D4ds_v5``."""
    size = name.rsplit("Standard_", 1)[-1]
    sku = SKUS.get(size)
    if sku is None or name not in (size, f"Standard_{size}", sku.sku_name):
        series = [s for s in sorted(SKUS) if s[:1].upper() == size[:1].upper()] or sorted(SKUS)
        raise ConfigError(
            f"unknown Flexible Server SKU {name!r}; known: {', '.join(series)} "
            "(also as Standard_<size> or with the tier prefix, e.g. GP_Standard_D4ds_v5)"
        )
    return sku
