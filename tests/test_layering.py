"""Which code may import which: the core imports without cdktf, the infra depends only on the
shared platform data, and the synth cache key covers everything the infra imports.

The import graph is read from the source (ast), lazy imports inside functions included, so a
rule is broken by writing the import, not only by running it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from mapperdb.stage_inputs import SYNTH_INPUTS, matches

REPO = Path(__file__).resolve().parent.parent
ROOTS = {"mapperdb": REPO / "tools" / "mapperdb", "mapper_infra": REPO / "infra" / "mapper_infra"}
CDKTF = ("cdktf", "constructs", "cdktf_cdktf_provider_azurerm", "jsii")

# The core: what runs migrations, lints SQL, starts PostgreSQL and keeps the audit trail, and
# what they share. None of it may reach the infra code or CDKTF, even lazily.
CORE = (
    "mapperdb.migrate",
    "mapperdb.lint",
    "mapperdb.pg",
    "mapperdb.audit",
    "mapperdb.db",
    "mapperdb.errors",
    "mapperdb.findings",
    "mapperdb.report",
    "mapperdb.platform",
    "mapperdb.stage_inputs",
)
CORE_MUST_NOT_REACH = ("mapper_infra", "mapperdb.infra", "mapperdb.gate", "mapperdb.cli", *CDKTF)
# What the infra code may import from mapperdb: the platform data and the error types.
INFRA_MAY_IMPORT = ("mapperdb.platform", "mapperdb.errors")
# Who may import the infra code: the synth driver (and the cdktf entry point, infra/main.py),
# and the policy layer, which checks the infra against the SQL (the environment model's types
# only: at run time the synth driver hands it the environments).
INFRA_IMPORTERS = ("mapperdb.infra", "mapperdb.policy", "mapper_infra")


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def modules() -> dict[str, Path]:
    """Every module of ours: dotted name -> file."""
    found = {}
    for package, root in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path) -> Iterator[str]:
    """The modules ``path`` imports, absolute; ``from a import b`` also yields ``a.b``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph() -> dict[str, set[str]]:
    ours = modules()
    return {name: set(imports_of(name, path)) for name, path in ours.items()}


def reachable(start: str, edges: dict[str, set[str]]) -> dict[str, str]:
    """Every module reachable from ``start`` -> the module that imports it first."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for target in edges.get(current, ()):
            if target not in seen:
                seen[target] = current
                todo.append(target)
    return seen


def path_to(target: str, start: str, parents: dict[str, str]) -> str:
    chain = [target]
    while chain[-1] != start and chain[-1] in parents:
        chain.append(parents[chain[-1]])
    return " -> ".join(reversed(chain))


def test_the_graph_sees_our_modules_and_their_imports() -> None:
    edges = graph()
    assert {"mapperdb.gate", "mapperdb.migrate.runner", "mapper_infra.app"} <= set(edges)
    assert "mapper_infra.app" in edges["mapperdb.infra.synth"]  # a lazy import counts
    assert "cdktf" in edges["mapper_infra.app"]


def test_core_never_reaches_infra_or_cdktf() -> None:
    edges = graph()
    core = [name for name in edges if under(name, CORE)]
    assert {"mapperdb.migrate.runner", "mapperdb.lint.api", "mapperdb.pg.ephemeral"} <= set(core)
    problems = []
    for name in core:
        parents = reachable(name, edges)
        problems += [
            path_to(target, name, parents)
            for target in parents
            if under(target, CORE_MUST_NOT_REACH)
        ]
    assert not problems, "core modules reach infra or CDKTF:\n" + "\n".join(sorted(problems))


def test_infra_imports_only_the_platform_data_from_mapperdb() -> None:
    edges = graph()
    wrong = sorted(
        f"{name} imports {target}; import platform facts from mapperdb.platform instead"
        for name, targets in edges.items()
        if name.startswith("mapper_infra")
        for target in targets
        if target.startswith("mapperdb") and not under(target, INFRA_MAY_IMPORT)
    )
    assert not wrong, "\n".join(wrong)


def test_platform_is_a_leaf() -> None:
    edges = graph()
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in edges.items()
        if under(name, ("mapperdb.platform",))
        for target in targets
        if (target.startswith("mapperdb") or target.startswith("mapper_infra"))
        and not under(target, ("mapperdb.platform", "mapperdb.errors"))
        and target != "mapperdb"
    )
    assert not wrong, "mapperdb.platform must import only itself and mapperdb.errors:\n" + (
        "\n".join(wrong)
    )


def test_only_the_synth_driver_imports_infra_or_cdktf() -> None:
    edges = graph()
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in edges.items()
        if not under(name, INFRA_IMPORTERS)
        for target in targets
        if under(target, ("mapper_infra", *CDKTF))
    )
    assert not wrong, "only mapperdb.infra may import the infra code or CDKTF:\n" + "\n".join(wrong)


def test_synth_cache_key_covers_what_infra_imports() -> None:
    """A stale cached stack would pass the gate: every file of ours the infra code can reach
    must be among the synth cache's inputs."""
    edges = graph()
    files = modules()
    uncovered = set()
    for start in (name for name in edges if name.startswith("mapper_infra")):
        for target in [start, *reachable(start, edges)]:
            if target in files:
                rel = files[target].relative_to(REPO).as_posix()
                if not any(matches(rel, pattern) for pattern in SYNTH_INPUTS):
                    uncovered.add(rel)
    assert not uncovered, f"add to mapperdb.stage_inputs.SYNTH_INPUTS: {sorted(uncovered)}"


BLOCKER = """
import importlib, importlib.abc, pkgutil, sys
BLOCKED = {blocked!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked: the core must import without CDKTF")
        return None

sys.meta_path.insert(0, Block())
import mapperdb
names = [m.name for m in pkgutil.walk_packages(mapperdb.__path__, "mapperdb.")]
names = [n for n in names if n != "mapperdb.__main__" and not n.startswith("mapperdb.infra")]
for name in names:
    importlib.import_module(name)
print("\\n".join(names))
"""


def test_every_module_but_the_synth_driver_imports_with_cdktf_blocked() -> None:
    code = BLOCKER.format(blocked=(*CDKTF, "mapper_infra"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = set(done.stdout.split())
    assert {
        "mapperdb.migrate.runner",
        "mapperdb.lint.api",
        "mapperdb.pg.ephemeral",
        "mapperdb.gate",
        "mapperdb.platform.parameters",
    } <= imported
