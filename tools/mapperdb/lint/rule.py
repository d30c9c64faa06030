"""What a rule is: a stable id, a severity, its rationale, a bad and a good example, a check.

Statement rules see one statement with the schema as it stood just before it; set rules see the
schema the whole migration set ends with, so a table's RLS can be enabled in a later migration
than the one that created it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from pglast import ast

from mapperdb.findings import Severity
from mapperdb.lint.schema_model import Origin, Schema, Table
from mapperdb.migrate.files import DEFAULT, MigrationFile, Pattern, Statement

SETUP_NAME = "0001_setup"
CHANGE_NAME = "0002_change"


@dataclass(frozen=True)
class Example:
    """A migration set that shows a rule: ``sql`` is the migration under review.

    ``setup`` is an earlier migration (so its tables already exist); ``files`` replaces both for
    rules about files rather than statements (name -> text); ``base`` is what the base branch
    holds, for rules that compare against it.
    """

    sql: str = ""
    setup: str = ""
    files: tuple[tuple[str, str], ...] = ()
    base: tuple[tuple[str, str], ...] = ()

    def migration_files(self) -> tuple[tuple[str, str], ...]:
        if self.files:
            return self.files
        files: list[tuple[str, str]] = []
        if self.setup:
            files.append((f"{SETUP_NAME}.up.sql", self.setup))
            files.append((f"{SETUP_NAME}.down.sql", "-- reverses the setup\nselect 1;\n"))
        files.append((f"{CHANGE_NAME}.up.sql", self.sql))
        files.append((f"{CHANGE_NAME}.down.sql", "-- reverses the change\nselect 1;\n"))
        return tuple(files)


@dataclass
class StatementContext:
    schema: Schema  # as it stood just before this statement
    file: MigrationFile
    statement: Statement

    @property
    def node(self) -> Any:
        return self.statement.node

    @cached_property
    def column_defs(self) -> list[tuple[str, Any]]:
        """(name, definition) of every typed column: CREATE TABLE, ADD COLUMN, ALTER ... TYPE."""
        node = self.statement.node
        found: list[tuple[str | None, Any]] = []
        if isinstance(node, ast.CreateStmt):
            found = [(c.colname, c) for c in node.tableElts or () if isinstance(c, ast.ColumnDef)]
        elif isinstance(node, ast.CompositeTypeStmt):
            found = [(c.colname, c) for c in node.coldeflist or ()]
        elif isinstance(node, ast.AlterTableStmt):
            # ALTER COLUMN ... TYPE carries the name on the command, not on its ColumnDef.
            found = [
                (cmd.def_.colname or cmd.name, cmd.def_)
                for cmd in node.cmds or ()
                if isinstance(cmd.def_, ast.ColumnDef)
            ]
        return [(str(name or "?"), c) for name, c in found if c.typeName is not None]

    def existing(self, table: Table | None) -> bool:
        """True for a table an earlier migration created: only there do locks hurt."""
        if table is None or table.version is None:
            return False
        return self.file.version is None or table.version < self.file.version


@dataclass(frozen=True)
class SetHit:
    origin: Origin
    message: str
    related: frozenset[str] = frozenset()  # other files whose change makes this finding relevant


@dataclass
class SetContext:
    schema: Schema  # after every up migration
    files: list[MigrationFile]
    edited: dict[str, str] = field(default_factory=dict)  # display path -> git status vs the base
    pattern: Pattern = DEFAULT  # how the set's files are named


class Rule:
    id: ClassVar[str]
    name: ClassVar[str]  # kebab-case, for SARIF and the docs
    severity: ClassVar[Severity]
    summary: ClassVar[str]  # what it does, one line
    why: ClassVar[str]  # why it is bad: which lock, which leak
    instead: ClassVar[str]  # the safe alternative
    bad: ClassVar[Example]
    good: ClassVar[Example]
    on_down: ClassVar[bool] = True  # False where a down must do it by definition (drop, rename)
    # The statement types ``check`` looks at; the engine calls it for those only.
    node_types: ClassVar[tuple[type, ...]] = ()

    @property
    def prefix(self) -> str:
        return self.id.rstrip("0123456789")

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        """Yields (node, message) for a statement; the node locates the finding."""
        return iter(())

    def check_set(self, ctx: SetContext) -> Iterator[SetHit]:
        """Yields findings about the final state of the migration set."""
        return iter(())
