"""Runs the rules over a migration set: replay, statement rules, set rules, suppressions.

Every up migration of the set is replayed into a :class:`Schema` in version order so that rules
know what already exists; only the target files are checked. A down migration is checked against
the schema right after its up, which is the state it will really run on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from mapperdb.findings import Finding, Severity
from mapperdb.lint.rule import Rule, SetContext, StatementContext
from mapperdb.lint.rules import registry
from mapperdb.lint.schema_model import Origin, Schema
from mapperdb.migrate.files import DEFAULT, Allow, MigrationFile, Pattern

SYNTAX = "SYN001"
DIRECTIVE = "HYG006"
SUPPRESSION_REASON = "HYG003"
UNUSED_SUPPRESSION = "HYG004"


@dataclass(frozen=True)
class Hit:
    """A finding before suppressions and before its offset becomes a line and column."""

    file: str
    offset: int
    rule: str
    severity: Severity
    message: str
    position: tuple[int, int] | None = None  # given directly by stages that think in lines


@dataclass
class MigrationSet:
    """The files of one migrations directory, plus any stray files linted alongside it."""

    files: list[MigrationFile]
    targets: set[str]  # display paths to report on
    edited: dict[str, str] = field(default_factory=dict)
    pattern: Pattern = DEFAULT  # how the set's files are named

    @property
    def ups(self) -> list[MigrationFile]:
        return [f for f in self.files if f.is_up and f.version is not None]

    def down_of(self, up: MigrationFile) -> MigrationFile | None:
        return self._downs.get((up.version, up.slug))

    @cached_property
    def _downs(self) -> dict[tuple[int | None, str], MigrationFile]:
        return {(f.version, f.slug): f for f in self.files if f.direction == "down"}

    @property
    def strays(self) -> list[MigrationFile]:
        return [f for f in self.files if f.version is None]


# A later stage (style) that sees the target files and returns hits of its own.
Stage = Callable[[list[MigrationFile]], list[Hit]]


class Engine:
    def __init__(self, rules: Iterable[Rule] | None = None) -> None:
        self.rules = list(rules) if rules is not None else list(registry().values())
        self.known = {r.id: r for r in registry().values()}
        self._dispatch: dict[type, list[Rule]] = {}  # statement type -> the rules that check it

    def run(self, mset: MigrationSet, stages: Iterable[Stage] = ()) -> list[Finding]:
        # Downs change nothing later migrations see: only the ones under review are parsed.
        parsed = {f.display: f for f in mset.files if f.is_up or f.display in mset.targets}
        hits: list[Hit] = []
        schema = Schema()
        for up in mset.ups:
            self._replay(parsed[up.display], schema, hits, check=up.display in mset.targets)
            down = mset.down_of(up)
            if down is not None and down.display in mset.targets:
                self._check_only(parsed[down.display], schema, hits)
        for stray in mset.strays:
            self._replay(parsed[stray.display], schema, hits, check=stray.display in mset.targets)
        hits.extend(self._set_hits(mset, schema))
        targets = [parsed[f.display] for f in mset.files if f.display in mset.targets]
        for pf in targets:
            hits.extend(
                Hit(pf.display, p.offset, SYNTAX, Severity.ERROR, f"syntax error: {p.message}")
                for p in pf.syntax_errors
            )
            hits.extend(
                Hit(pf.display, p.offset, DIRECTIVE, Severity.ERROR, p.message)
                for p in pf.directive_problems
            )
        for stage in stages:
            hits.extend(stage(targets))
        return sorted(self._suppress(hits, parsed, mset.targets))

    def _statement_hits(self, pf: MigrationFile, schema: Schema, index: int) -> list[Hit]:
        statement = pf.statements[index]
        ctx = StatementContext(schema, pf, statement)
        hits = []
        for rule in self._rules_for(type(statement.node)):
            if not pf.is_up and not rule.on_down:
                continue
            for node, message in rule.check(ctx):
                offset = statement.offset_of(node)
                hits.append(Hit(pf.display, offset, rule.id, rule.severity, message))
        return hits

    def _rules_for(self, node_type: type) -> list[Rule]:
        rules = self._dispatch.get(node_type)
        if rules is None:
            rules = [r for r in self.rules if issubclass(node_type, r.node_types)]
            self._dispatch[node_type] = rules
        return rules

    def _replay(self, pf: MigrationFile, schema: Schema, hits: list[Hit], *, check: bool) -> None:
        for index, statement in enumerate(pf.statements):
            if check:
                hits.extend(self._statement_hits(pf, schema, index))
            schema.apply(statement.node, pf.version, Origin(pf.display, statement.start))

    def _check_only(self, pf: MigrationFile, schema: Schema, hits: list[Hit]) -> None:
        for index in range(len(pf.statements)):
            hits.extend(self._statement_hits(pf, schema, index))

    def _set_hits(self, mset: MigrationSet, schema: Schema) -> list[Hit]:
        ctx = SetContext(schema, mset.files, mset.edited, mset.pattern)
        hits = []
        for rule in self.rules:
            for hit in rule.check_set(ctx):
                if hit.origin.file in mset.targets or hit.related & mset.targets:
                    hits.append(
                        Hit(hit.origin.file, hit.origin.offset, rule.id, rule.severity, hit.message)
                    )
        return hits

    def _suppress(
        self, hits: list[Hit], parsed: dict[str, MigrationFile], targets: set[str]
    ) -> Iterable[Finding]:
        used: set[int] = set()
        for hit in hits:
            pf = parsed.get(hit.file)
            if pf is None:  # a deleted file: nothing to point into
                yield Finding(hit.file, 1, 1, hit.rule, hit.severity, hit.message)
                continue
            offset = hit.offset
            if hit.position is not None:
                offset = pf.lines.offset(*hit.position)
            statement = pf.statement_at(offset)
            allow = next(
                (
                    a
                    for a in (statement.allows if statement else ())
                    if a.rule == hit.rule and a.reason
                ),
                None,
            )
            if allow is not None:
                used.add(id(allow))
                continue
            line, column = hit.position or pf.lines.position(hit.offset)
            yield Finding(hit.file, line, column, hit.rule, hit.severity, hit.message)
        for display in sorted(targets & parsed.keys()):
            for allow in parsed[display].allows:
                yield from self._check_allow(display, allow, id(allow) in used)

    def _check_allow(self, display: str, allow: Allow, used: bool) -> Iterable[Finding]:
        place = (display, allow.line, allow.column)
        if not allow.reason:
            message = f"suppression of {allow.rule} has no reason: add `reason: <why it is safe>`"
            yield Finding(*place, SUPPRESSION_REASON, Severity.ERROR, message)
        elif allow.rule not in self.known and not allow.rule.startswith("SQLFLUFF-"):
            message = f"suppression names unknown rule {allow.rule}"
            yield Finding(*place, SUPPRESSION_REASON, Severity.ERROR, message)
        elif not used:
            message = f"suppression of {allow.rule} matched no finding on its statement"
            yield Finding(*place, UNUSED_SUPPRESSION, Severity.WARNING, message)
