"""The version matrix: one ephemeral Azure-like server per supported PostgreSQL major (Debian's 15,
the npm builds of 17 and 18), each with a template database migrated once; tests take a fresh
clone. What a build lacks next to Azure is said once, at the end of the run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from mapperdb.db import Connector
from mapperdb.errors import MapperdbError
from mapperdb.migrate.runner import Runner
from mapperdb.pg.binaries import SUPPORTED_MAJORS, find_server
from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.conftest import MIGRATIONS, Database
from tests.schema.schema_helpers import LOGINS

TEMPLATE = "matrix_template"


@dataclass(frozen=True)
class Server:
    major: int
    pg: EphemeralPostgres

    def fresh(self, *, migrated: bool = True) -> Database:
        name = f"m_{uuid.uuid4().hex[:12]}"
        self.pg.create_database(name, template=TEMPLATE if migrated else None)
        return Database(self.pg, name)


@pytest.fixture(scope="session", params=SUPPORTED_MAJORS, ids=lambda major: f"pg{major}")
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    major: int = request.param
    try:
        with EphemeralPostgres(major=major) as pg:
            pg.create_database(TEMPLATE)
            Runner(Connector(pg.admin_conninfo(TEMPLATE)), MIGRATIONS).up()
            with psycopg.connect(pg.admin_conninfo("postgres"), autocommit=True) as conn:
                for user, group in LOGINS.items():
                    conn.execute(
                        sql.SQL("create role {} login in role {}").format(
                            sql.Identifier(user), sql.Identifier(group)
                        )
                    )
            yield Server(major, pg)
    except MapperdbError as exc:
        pytest.fail(f"cannot start PostgreSQL {major}: {exc.message}", pytrace=False)


@pytest.fixture
def matrix_db(server: Server) -> Iterator[Database]:
    """A fresh clone of the migrated template on this version's server."""
    database = server.fresh()
    yield database
    server.pg.drop_database(database.name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Said once per run (in the controller, also under xdist): what each build lacks."""
    for major in SUPPORTED_MAJORS:
        try:
            note = find_server(major).limitations()
        except MapperdbError as exc:
            note = exc.message
        if note:
            terminalreporter.write_line(
                f"version matrix: {note}; what needs them is tested on 15 only"
            )
