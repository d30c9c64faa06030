"""Migrations 0018 (tenant data keys), 0019 (cache invalidation NOTIFY), 0028 (checked tenant
context) and 0029 (NOTIFY digests): each down restores the catalog its up found, whatever
version precedes it on the branch being tested."""

from __future__ import annotations

import pytest

from mapperdb.db import Connector
from mapperdb.migrate.runner import Runner
from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.conftest import MIGRATIONS
from tests.schema.test_migrations import catalog_dump


@pytest.mark.parametrize("version", [18, 19, 28, 29])
def test_down_reverses_up(pg: EphemeralPostgres, template_db: str, version: int) -> None:
    name = f"t_client_{version}"
    pg.create_database(name)
    try:
        runner = Runner(Connector(pg.admin_conninfo(name)), MIGRATIONS)
        previous = max(m.version for m in runner.migrations() if m.version < version)
        runner.up(previous)
        before = catalog_dump(pg, name)
        runner.up(version)
        assert catalog_dump(pg, name) != before
        runner.down(previous)
        assert catalog_dump(pg, name) == before
    finally:
        pg.drop_database(name)
