"""Shared fixtures: one ephemeral Azure-like PostgreSQL per test session, a template database
with every migration applied, and a fresh clone of it per test (milliseconds each).

The suite runs on pytest-xdist workers (``-n auto --dist worksteal`` in pyproject's addopts);
"per session" is per worker, so each worker has its own server and template. Synthesized stacks
are shared through the synth cache instead: the first worker to need them synthesizes (or finds
the cache warm), another one that needs them meanwhile waits on the cache's lock and reuses them.
Keeping those tests on one worker was tried: it made that worker the whole suite's critical path
(cdktf CLI, checkov and the full gate, one after another), so they spread like the rest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mapperdb.db import Connector
from mapperdb.errors import MapperdbError
from mapperdb.migrate.runner import Runner
from mapperdb.pg.ephemeral import ADMIN_USER, EphemeralPostgres

REPO = Path(__file__).resolve().parent.parent
MIGRATIONS = REPO / "sql" / "migrations"
TEMPLATE = "mapper_template"


@dataclass(frozen=True)
class Database:
    """One test's database; speak as the roles that will really use it."""

    pg: EphemeralPostgres
    name: str

    @property
    def admin_conninfo(self) -> str:
        return self.pg.conninfo(self.name, ADMIN_USER)

    @property
    def superuser_conninfo(self) -> str:
        """Only for what a superuser really does: tampering tests, catalog inspection."""
        return self.pg.superuser_conninfo(self.name)

    def conninfo(self, user: str, password: str | None = None) -> str:
        return self.pg.conninfo(self.name, user, password=password)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core, plus one. A worker often waits (on its PostgreSQL
    server, a subprocess, checkov), and the extra one uses those waits: on 2 cores the suite
    took 4 min 27 s with 2 workers and 3 min 47 s with 3 (docs/benchmarks.md)."""
    return (os.cpu_count() or 1) + 1


@pytest.fixture(scope="session")
def pg() -> Iterator[EphemeralPostgres]:
    try:
        with EphemeralPostgres() as server:
            yield server
    except MapperdbError as exc:
        pytest.fail(f"cannot start the ephemeral PostgreSQL: {exc.message}", pytrace=False)


@pytest.fixture(scope="session")
def template_db(pg: EphemeralPostgres) -> str:
    pg.create_database(TEMPLATE)
    Runner(Connector(pg.admin_conninfo(TEMPLATE)), MIGRATIONS).up()
    return TEMPLATE


def _fresh(pg: EphemeralPostgres, template: str | None) -> Iterator[Database]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg.create_database(name, template=template)
    yield Database(pg, name)
    pg.drop_database(name)


@pytest.fixture
def db(pg: EphemeralPostgres, template_db: str) -> Iterator[Database]:
    """A fresh database with every migration applied."""
    yield from _fresh(pg, template_db)


@pytest.fixture
def empty_db(pg: EphemeralPostgres) -> Iterator[Database]:
    """A fresh database with nothing applied (for runner tests)."""
    yield from _fresh(pg, None)
