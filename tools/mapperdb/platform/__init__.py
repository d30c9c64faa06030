"""Facts about the target platform (Azure Database for PostgreSQL Flexible Server) as data.

One place for what the ephemeral PostgreSQL, the infra stacks and ``mapperdb tune`` must agree
on: names and scopes here, the extension allow-list (``data/azure_extensions.toml``), the SKU
table (:mod:`.skus`) and the server parameters each SKU gets (:mod:`.parameters`).

This package is a leaf: it imports only the standard library and :mod:`mapperdb.errors`, so the
infra code can depend on it without pulling in any command (tests/test_layering.py holds that).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Azure's documented default for cron.database_name is "postgres"; the platform points pg_cron
# at its own database so jobs run where the data is.
APP_DATABASE = "mapper"
CRON_DATABASE = APP_DATABASE
ADMIN_GROUP = "azure_pg_admin"
ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
AZURE_HOST_SUFFIXES = (".postgres.database.azure.com",)


@dataclass(frozen=True)
class Extension:
    name: str
    preload: bool
    package: str
    why: str

    def debian_package(self, major: int) -> str:
        return self.package.format(major=major)


@cache
def allowed_extensions() -> tuple[Extension, ...]:
    """The extension allow-list (``azure.extensions``), from ``data/azure_extensions.toml``."""
    text = resources.files("mapperdb").joinpath("data/azure_extensions.toml").read_text("utf-8")
    return tuple(Extension(**entry) for entry in tomllib.loads(text)["extension"])


def allowed_extension_names() -> tuple[str, ...]:
    return tuple(ext.name for ext in allowed_extensions())


def preload_libraries() -> tuple[str, ...]:
    """``shared_preload_libraries``, in the order Azure lists them."""
    return tuple(ext.name for ext in allowed_extensions() if ext.preload)
