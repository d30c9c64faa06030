"""Small helpers over pglast's AST, which ships without type stubs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

# Type names as the parser spells them, to the names people write.
TYPE_ALIASES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "bpchar": "char",
}


# Per node class, the slots that can hold other nodes (pointer or list fields, not strings):
# walking only those is what keeps a full-set lint fast.
_CHILD_SLOTS: dict[type, tuple[str, ...]] = {}


def _child_slots(cls: type) -> tuple[str, ...]:
    slots = _CHILD_SLOTS.get(cls)
    if slots is None:
        info = getattr(cls, "__slots__", {})
        slots = tuple(
            name
            for name, typ in (info.items() if isinstance(info, dict) else ())
            if typ.c_type.endswith("*") and typ.c_type != "char*"
        )
        _CHILD_SLOTS[cls] = slots
    return slots


def walk(node: Any) -> Iterator[Any]:
    """Every node below ``node`` (itself included), depth first, in source order."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple | list):
            stack.extend(reversed(item))
        elif isinstance(item, ast.Node):
            yield item
            children = [getattr(item, slot) for slot in _child_slots(type(item))]
            stack.extend(child for child in reversed(children) if child is not None)


def strings(names: Any) -> list[str]:
    """The ``sval`` of each String node in a name list (``funcname``, ``TypeName.names``)."""
    return [n.sval for n in names or () if isinstance(n, ast.String) and n.sval is not None]


def type_name(type_node: Any) -> str:
    """A TypeName as people write it: ``pg_catalog.int4`` -> ``integer``."""
    names = [n for n in strings(type_node.names) if n != "pg_catalog"]
    name = ".".join(names)
    return TYPE_ALIASES.get(name, name)


def typmods(type_node: Any) -> tuple[int, ...]:
    mods = []
    for mod in type_node.typmods or ():
        value = getattr(getattr(mod, "val", None), "ival", None)
        if isinstance(value, int):
            mods.append(value)
    return tuple(mods)


def function_name(call: Any) -> str:
    names = [n for n in strings(call.funcname) if n != "pg_catalog"]
    return ".".join(names).lower()


def option_true(options: Any, name: str) -> bool | None:
    """The boolean value of a ``with (name = ...)`` option; None when the option is absent."""
    for option in options or ():
        if isinstance(option, ast.DefElem) and option.defname == name:
            arg = option.arg
            if arg is None:
                return True
            value = getattr(arg, "sval", None) or getattr(arg, "boolval", None)
            if isinstance(arg, ast.Integer):
                return bool(arg.ival)
            return str(value).lower() in {"true", "on", "1", "yes"}
    return None


def is_true_const(expr: Any) -> bool:
    """``true`` literally (the parser gives a bool constant, possibly cast)."""
    while isinstance(expr, ast.TypeCast):
        expr = expr.arg
    if isinstance(expr, ast.A_Const) and isinstance(expr.val, ast.Boolean):
        return bool(expr.val.boolval)
    return False


def column_names(node: Any) -> tuple[str, ...]:
    """Column names of a key (``keys``/``fk_attrs``) or an index's elements."""
    names: list[str] = []
    for item in node or ():
        if isinstance(item, ast.String):
            names.append(item.sval or "")
        elif isinstance(item, ast.IndexElem):
            names.append(item.name or "(expression)")
    return tuple(names)
