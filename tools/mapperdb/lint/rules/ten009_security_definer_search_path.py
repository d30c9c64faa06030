"""TEN009: SECURITY DEFINER functions pin their search_path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from mapperdb.findings import Severity
from mapperdb.lint.nodes import strings
from mapperdb.lint.rule import Example, Rule, StatementContext

BODY = "as $$ select count(*) from mapper.storage_records $$;\n"


def _options(node: Any) -> dict[str, Any]:
    return {str(o.defname): o.arg for o in node.options or () if isinstance(o, ast.DefElem)}


class SecurityDefinerSearchPath(Rule):
    id = "TEN009"
    name = "security-definer-search-path"
    severity = Severity.ERROR
    node_types = (ast.CreateFunctionStmt,)
    summary = "A SECURITY DEFINER function without SET search_path."
    why = (
        "The function runs with its owner's rights but resolves unqualified names through the "
        "caller's search_path: a caller who can create objects in any schema on that path "
        "shadows a table, operator or function and runs code as the owner."
    )
    instead = (
        "Add `set search_path = ''` (and schema-qualify every name) or "
        "`set search_path = pg_catalog, mapper`."
    )
    bad = Example(
        sql="create function mapper.record_total() returns bigint\n"
        "    language sql stable security definer\n" + BODY
    )
    good = Example(
        sql="create function mapper.record_total() returns bigint\n"
        "    language sql stable security definer set search_path = ''\n" + BODY
    )

    def check(self, ctx: StatementContext) -> Iterator[tuple[Any, str]]:
        node = ctx.node
        if not isinstance(node, ast.CreateFunctionStmt):
            return
        options = _options(node)
        security = options.get("security")
        if not (isinstance(security, ast.Boolean) and security.boolval):
            return
        settings = [o.arg for o in node.options or () if o.defname == "set"]
        if not any(getattr(s, "name", None) == "search_path" for s in settings):
            name = ".".join(strings(node.funcname))
            yield node, f"SECURITY DEFINER function {name} does not SET search_path"


RULE = SecurityDefinerSearchPath()
