"""Where a construct builds: the names' stem, the resource group and the region."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Site:
    stem: str  # the start of every resource name, e.g. lmdb-prod
    resource_group_name: str
    location: str

    def at(self, location: str) -> Site:
        """The same environment in another region (the paired one)."""
        return replace(self, location=location)
