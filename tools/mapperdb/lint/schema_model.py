"""The schema a migration set has built so far, replayed statement by statement.

Rules ask it whether a table already existed before the migration at hand (only then do lock
rules matter), what type a column has, whether a table holds tenant data (it has ``tenant_id``),
and, once every migration is replayed, whether each tenant table ended with RLS enabled, forced
and covered by policies. It models only what the rules need; anything else is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, NullTestType, ObjectType

from mapperdb.lint.nodes import column_names, option_true, strings, type_name, typmods, walk

TENANT_COLUMN = "tenant_id"
COMMANDS = ("select", "insert", "update", "delete")


@dataclass(frozen=True)
class Origin:
    """Where an object was declared: a file (as displayed) and a character offset in it."""

    file: str
    offset: int


@dataclass
class Column:
    type: str
    typmods: tuple[int, ...]
    not_null: bool = False


@dataclass
class Key:
    kind: str  # "primary key", "unique", "unique index" or "foreign key"
    name: str
    columns: tuple[str, ...]
    origin: Origin
    ref_table: str | None = None  # for a foreign key: the table it references


@dataclass
class Check:
    name: str
    not_null_column: str | None  # set for ``check (col is not null)``
    validated: bool


@dataclass
class Policy:
    name: str
    command: str  # "all", "select", "insert", "update" or "delete"
    permissive: bool
    origin: Origin


@dataclass
class Table:
    name: str
    version: int | None  # the migration that created it
    origin: Origin
    columns: dict[str, Column] = field(default_factory=dict)
    keys: list[Key] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    rls_enabled: bool = False
    rls_forced: bool = False
    partitioned: bool = False
    partition_of: str | None = None
    touched: set[str] = field(default_factory=set)  # files that changed it

    @property
    def is_tenant(self) -> bool:
        return TENANT_COLUMN in self.columns


@dataclass
class View:
    name: str
    materialized: bool
    security_invoker: bool
    reads: set[str]
    origin: Origin
    touched: set[str] = field(default_factory=set)


@dataclass
class Index:
    name: str
    table: str
    version: int | None


def qualified(relation: Any) -> str:
    """``schema.name`` of a RangeVar; unqualified names are kept bare and resolved on lookup."""
    schema = getattr(relation, "schemaname", None)
    return f"{schema}.{relation.relname}" if schema else str(relation.relname)


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _not_null_column(expr: Any) -> str | None:
    if (
        isinstance(expr, ast.NullTest)
        and expr.nulltesttype == NullTestType.IS_NOT_NULL
        and isinstance(expr.arg, ast.ColumnRef)
    ):
        names = strings(expr.arg.fields)
        return names[-1] if names else None
    return None


@dataclass
class Schema:
    tables: dict[str, Table] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    volatile_functions: set[str] = field(default_factory=set)
    stable_functions: set[str] = field(default_factory=set)  # immutable or stable ones

    # Lookups -----------------------------------------------------------------------------
    def _find(self, catalog: dict[str, Any], name: str) -> str | None:
        if name in catalog:
            return name
        bare = _bare(name)
        for key in catalog:
            if _bare(key) == bare and ("." not in name or "." not in key):
                return key
        return None

    def table(self, relation: Any) -> Table | None:
        name = relation if isinstance(relation, str) else qualified(relation)
        key = self._find(self.tables, name)
        return self.tables[key] if key else None

    def view(self, relation: Any) -> View | None:
        name = relation if isinstance(relation, str) else qualified(relation)
        key = self._find(self.views, name)
        return self.views[key] if key else None

    def index(self, name: str) -> Index | None:
        key = self._find(self.indexes, name)
        return self.indexes[key] if key else None

    def reads_tenant_data(self, view: View, seen: frozenset[str] = frozenset()) -> bool:
        """Whether a view reads a tenant table, directly or through other views."""
        for name in view.reads - seen:
            table = self.table(name)
            if table is not None and table.is_tenant:
                return True
            inner = self.view(name)
            if inner is not None and self.reads_tenant_data(inner, seen | {name}):
                return True
        return False

    def tenant_root(self, table: Table) -> Table | None:
        """The partitioned tenant table a partition belongs to, through any depth of partitions."""
        current = table
        while current.partition_of is not None:
            parent = self.table(current.partition_of)
            if parent is None:
                return None
            current = parent
        return current if current is not table and current.is_tenant else None

    # Replay ------------------------------------------------------------------------------
    def apply(self, node: Any, version: int | None, origin: Origin) -> None:
        handler = getattr(self, f"_apply_{type(node).__name__}", None)
        if handler is not None:
            handler(node, version, origin)

    def _apply_CreateStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        name = qualified(node.relation)
        if node.if_not_exists and self.table(name) is not None:
            return
        table = Table(name, version, origin, touched={origin.file})
        table.partitioned = node.partspec is not None
        if node.partbound is not None and node.inhRelations:
            parent = self.table(node.inhRelations[0])
            table.partition_of = parent.name if parent else qualified(node.inhRelations[0])
            if parent is not None:
                table.columns = {
                    k: Column(c.type, c.typmods, c.not_null) for k, c in parent.columns.items()
                }
        for element in node.tableElts or ():
            if isinstance(element, ast.ColumnDef):
                self._add_column(table, element, origin)
            elif isinstance(element, ast.Constraint):
                self._add_constraint(table, element, origin, ())
        self.tables[name] = table

    def _add_column(self, table: Table, column: Any, origin: Origin) -> None:
        if column.typeName is None:
            return
        col = Column(type_name(column.typeName), typmods(column.typeName), bool(column.is_not_null))
        table.columns[column.colname] = col
        for constraint in column.constraints or ():
            if constraint.contype == ConstrType.CONSTR_NOTNULL:
                col.not_null = True
            self._add_constraint(table, constraint, origin, (column.colname,))

    def _add_constraint(self, table: Table, con: Any, origin: Origin, own: tuple[str, ...]) -> None:
        kind = {
            ConstrType.CONSTR_PRIMARY: "primary key",
            ConstrType.CONSTR_UNIQUE: "unique",
            ConstrType.CONSTR_FOREIGN: "foreign key",
        }.get(con.contype)
        name = con.conname or ""
        if kind == "foreign key":
            columns = column_names(con.fk_attrs) or own
            ref = qualified(con.pktable)
            target = self.table(ref)
            table.keys.append(Key(kind, name, columns, origin, target.name if target else ref))
        elif kind is not None:
            columns = column_names(con.keys) or own
            if con.indexname:
                index = self.index(con.indexname)
                columns = columns or (index_columns(self, index) if index else ())
            table.keys.append(Key(kind, name, columns, origin))
            if kind == "primary key":
                for column in columns:
                    if column in table.columns:
                        table.columns[column].not_null = True
        elif con.contype == ConstrType.CONSTR_CHECK:
            table.checks.append(
                Check(name, _not_null_column(con.raw_expr), not con.skip_validation)
            )

    def _apply_AlterTableStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        if node.objtype in (ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW):
            view = self.view(node.relation)
            if view is None:
                return
            view.touched.add(origin.file)
            for cmd in node.cmds or ():
                if cmd.subtype == AlterTableType.AT_SetRelOptions:
                    value = option_true(cmd.def_, "security_invoker")
                    if value is not None:
                        view.security_invoker = value
            return
        table = self.table(node.relation)
        if table is None:
            return
        table.touched.add(origin.file)
        for cmd in node.cmds or ():
            self._alter(table, cmd, origin)

    def _alter(self, table: Table, cmd: Any, origin: Origin) -> None:  # noqa: PLR0912
        sub = cmd.subtype
        if sub == AlterTableType.AT_AddColumn:
            self._add_column(table, cmd.def_, origin)
        elif sub == AlterTableType.AT_DropColumn:
            table.columns.pop(cmd.name, None)
        elif sub == AlterTableType.AT_AlterColumnType and cmd.name in table.columns:
            column = table.columns[cmd.name]
            column.type, column.typmods = type_name(cmd.def_.typeName), typmods(cmd.def_.typeName)
        elif sub == AlterTableType.AT_SetNotNull and cmd.name in table.columns:
            table.columns[cmd.name].not_null = True
        elif sub == AlterTableType.AT_DropNotNull and cmd.name in table.columns:
            table.columns[cmd.name].not_null = False
        elif sub == AlterTableType.AT_AddConstraint:
            self._add_constraint(table, cmd.def_, origin, ())
        elif sub == AlterTableType.AT_ValidateConstraint:
            for check in table.checks:
                if check.name == cmd.name:
                    check.validated = True
        elif sub == AlterTableType.AT_DropConstraint:
            table.keys = [k for k in table.keys if k.name != cmd.name]
            table.checks = [c for c in table.checks if c.name != cmd.name]
        elif sub == AlterTableType.AT_EnableRowSecurity:
            table.rls_enabled = True
        elif sub == AlterTableType.AT_DisableRowSecurity:
            table.rls_enabled = False
        elif sub == AlterTableType.AT_ForceRowSecurity:
            table.rls_forced = True
        elif sub == AlterTableType.AT_NoForceRowSecurity:
            table.rls_forced = False
        elif sub == AlterTableType.AT_AttachPartition:
            child = self.table(cmd.def_.name)
            if child is not None:
                child.partition_of = table.name
                child.touched.add(origin.file)
        elif sub == AlterTableType.AT_DetachPartition:
            child = self.table(cmd.def_.name)
            if child is not None:
                child.partition_of = None

    def _apply_IndexStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        table = self.table(node.relation)
        if table is None:
            return
        name = node.idxname or f"{_bare(table.name)}_idx"
        schema = table.name.rsplit(".", 1)[0] + "." if "." in table.name else ""
        self.indexes[schema + name] = Index(schema + name, table.name, version)
        if node.unique:
            table.keys.append(Key("unique index", name, column_names(node.indexParams), origin))
            table.touched.add(origin.file)

    def _apply_DropStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        for obj in node.objects or ():
            names = strings(obj) if isinstance(obj, tuple) else []
            if not names:
                continue
            name = ".".join(names)
            if node.removeType == ObjectType.OBJECT_TABLE:
                key = self._find(self.tables, name)
                self.tables.pop(key or name, None)
            elif node.removeType in (ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW):
                key = self._find(self.views, name)
                self.views.pop(key or name, None)
            elif node.removeType == ObjectType.OBJECT_INDEX:
                key = self._find(self.indexes, name)
                self.indexes.pop(key or name, None)
            elif node.removeType == ObjectType.OBJECT_POLICY:
                table = self.table(".".join(names[:-1]))
                if table is not None:
                    table.policies = [p for p in table.policies if p.name != names[-1]]
                    table.touched.add(origin.file)

    def _apply_RenameStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        if node.relation is None:
            return
        table = self.table(node.relation)
        if table is None:
            return
        table.touched.add(origin.file)
        if node.renameType == ObjectType.OBJECT_TABLE:
            del self.tables[table.name]
            schema = table.name.rsplit(".", 1)[0] + "." if "." in table.name else ""
            table.name = schema + node.newname
            self.tables[table.name] = table
        elif node.renameType == ObjectType.OBJECT_COLUMN and node.subname in table.columns:
            table.columns[node.newname] = table.columns.pop(node.subname)

    def _apply_CreatePolicyStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        table = self.table(node.table)
        if table is not None:
            table.policies.append(
                Policy(node.policy_name, node.cmd_name or "all", bool(node.permissive), origin)
            )
            table.touched.add(origin.file)

    def _apply_ViewStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        name = qualified(node.view)
        reads = {qualified(n) for n in walk(node.query) if isinstance(n, ast.RangeVar)}
        invoker = bool(option_true(node.options, "security_invoker"))
        self.views[name] = View(name, False, invoker, reads, origin, {origin.file})

    def _apply_CreateTableAsStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        if node.objtype != ObjectType.OBJECT_MATVIEW:
            return
        name = qualified(node.into.rel)
        reads = {qualified(n) for n in walk(node.query) if isinstance(n, ast.RangeVar)}
        self.views[name] = View(name, True, False, reads, origin, {origin.file})

    def _apply_CreateFunctionStmt(self, node: Any, version: int | None, origin: Origin) -> None:  # noqa: N802
        name = ".".join(strings(node.funcname)).lower()
        volatility = "volatile"
        for option in node.options or ():
            if option.defname == "volatility":
                volatility = option.arg.sval
        names = {name, _bare(name)}
        if volatility == "volatile":
            self.volatile_functions |= names
            self.stable_functions -= names
        else:
            self.stable_functions |= names
            self.volatile_functions -= names


def index_columns(schema: Schema, index: Index) -> tuple[str, ...]:
    table = schema.table(index.table)
    if table is None:
        return ()
    for key in table.keys:
        if key.kind == "unique index" and _bare(index.name) == key.name:
            return key.columns
    return ()
