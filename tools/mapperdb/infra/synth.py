"""Synthesize the CDKTF stacks of one or all environments, in one process, through a cache.

The azurerm bindings are the heavy part of a synthesis (~5 s of CPU and ~1 GB with Node.js, through
mapper_infra.bindings; ~50 s when the package imports all its submodules), so every environment
goes into one App;
environment files are validated before that import, so a bad file fails in a second.

A synthesized stack is a function of its inputs: the infra code, the environment files, the
platform data the infra imports, cdktf.json, the lock files and the versions of Python, Node.js
and the CDKTF packages (:data:`mapperdb.stage_inputs.SYNTH_INPUTS`). The output is kept under
``~/.cache/mapperdb/synth/<sha256 of them>/`` (``$MAPPERDB_CACHE_DIR/synth`` when set;
``MAPPERDB_SYNTH_CACHE=off`` disables it) and copied into the output directory on a hit, so an
unchanged infrastructure is synthesized once per machine. Two processes that synthesize at once
take turns on a lock per key: the second one reuses what the first one wrote. An entry appears
by an atomic rename, so a reader never sees half of one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

from mapper_infra.config import Environment, load_environments
from mapperdb.cachedir import cache_dir
from mapperdb.errors import ConfigError, EnvironmentProblem
from mapperdb.repo import repo_root
from mapperdb.stage_inputs import SYNTH_INPUTS, digest

STACKS_DIR = "stacks"
STACK_FILE = "cdk.tf.json"
MANIFEST = "manifest.json"
CACHE_KEEP = 8  # entries kept; one is ~0.3 MB, and a branch switch should not evict the other
# The packages whose versions change what synthesis writes.
SYNTH_PACKAGES = ("cdktf", "constructs", "cdktf-cdktf-provider-azurerm", "jsii", "pydantic")


@dataclass(frozen=True)
class Synthesis:
    paths: dict[str, Path]  # environment -> its cdk.tf.json under the output directory
    cache_hit: bool = False
    key: str | None = None  # None when the cache is off

    def describe(self) -> str:
        """How the stacks were made, for a summary line."""
        if self.key is None:
            return "synthesized (cache off)"
        return f"from the synth cache ({self.key[:12]})" if self.cache_hit else "synthesized"


def cache_root() -> Path | None:
    return cache_dir("synth")


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        raise EnvironmentProblem(
            "synthesis needs Node.js (jsii runs the CDKTF core in it); install Node 20 or newer"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    return version.stdout.strip().lstrip("v")


def _code_root() -> Path:
    """Where the code that synthesizes lives: the checkout this mapperdb is imported from (the
    stacks come from the importable mapper_infra, whatever directory the command runs in)."""
    spec = util.find_spec("mapper_infra")
    locations = list(spec.submodule_search_locations or ()) if spec else []
    if not locations:
        raise EnvironmentProblem("mapper_infra is not importable; run ./bin/setup")
    return Path(locations[0]).resolve().parents[1]


def cache_key(environments: list[Environment], node: str) -> str:
    versions = [f"python {sys.version}", f"node {node}"]
    for package in SYNTH_PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} absent")
    # The validated environments are what the stacks are built from, wherever their files live
    # (the repository's infra/environments, a --repo's, a test's tmp dir).
    envs = [f"env {env.model_dump_json()}" for env in environments]
    return digest(_code_root(), SYNTH_INPUTS, [*versions, *envs])


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _synthesize(environments: list[Environment], outdir: Path, node: str) -> None:
    # jsii prints a banner on every run when Node is past its end of life (Node 20 here); the
    # final CDKTF release works with it, so the banner is noise in a gate's output.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", node.partition(".")[0])
    # Imported here, after the environment files passed: this import is the heavy part.
    from mapper_infra.app import build_app

    build_app(environments, outdir).synth()
    missing = [str(p) for p in _stack_paths(environments, outdir).values() if not p.is_file()]
    if missing:
        raise EnvironmentProblem(f"synthesis wrote no {', '.join(missing)}; rerun with cdktf synth")


def _stack_paths(environments: list[Environment], outdir: Path) -> dict[str, Path]:
    return {env.name: outdir / STACKS_DIR / env.name / STACK_FILE for env in environments}


def _write(dest: Path, data: bytes) -> None:
    """Through a rename, so a concurrent reader sees the old file or the new one, never half."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, dest)


def _install(entry: Path, outdir: Path, names: list[str]) -> None:
    """Copy the stacks of ``names`` from a cache entry into ``outdir``, with a manifest that
    lists just those (an entry holds every environment)."""
    for name in names:
        stack = entry / STACKS_DIR / name
        for path in sorted(p for p in stack.rglob("*") if p.is_file()):
            _write(outdir / path.relative_to(entry), path.read_bytes())
    manifest = json.loads((entry / MANIFEST).read_text("utf-8"))
    manifest["stacks"] = {k: v for k, v in manifest.get("stacks", {}).items() if k in names}
    _write(outdir / MANIFEST, json.dumps(manifest, indent=2).encode())


def _prune(root: Path, keep: int) -> None:
    """Drop the least recently used entries beyond ``keep`` (a hit refreshes an entry's time)."""
    entries = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for entry in entries[keep:]:
        stale = entry.with_name(f".stale-{entry.name}-{os.getpid()}")
        try:
            entry.rename(stale)  # a reader holding the old name's lock finds it gone, not half
        except OSError:
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _cached(
    environments: list[Environment],
    everything: list[Environment],
    outdir: Path,
    node: str,
    root: Path,
) -> Synthesis:
    """Synthesize every environment on a miss (the bindings' import is most of the cost, one
    stack or three), so ``--env dev``, ``mapperdb policy`` and the gate share one entry."""
    key = cache_key(everything, node)
    entry = root / key
    with _locked(root / f".{key}.lock"):
        hit = entry.is_dir()
        if hit:
            now = time.time()
            os.utime(entry, (now, now))
        else:
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
            try:
                _synthesize(everything, staging, node)
                staging.rename(entry)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _prune(root, CACHE_KEEP)
        _install(entry, outdir, [env.name for env in environments])
    return Synthesis(_stack_paths(environments, outdir), hit, key)


def synthesize(
    envs: list[str] | None, outdir: Path, environments_dir: Path | None = None
) -> Synthesis:
    """Write ``outdir/stacks/<env>/cdk.tf.json`` for ``envs`` (all when None), from the cache
    when the inputs are unchanged."""
    directory = environments_dir or repo_root() / "infra/environments"
    environments = load_environments(directory, envs)
    try:
        everything = environments if envs is None else load_environments(directory)
    except ConfigError:
        everything = environments  # another file is broken: cache just what was asked for
    node = _node_version()
    root = cache_root()
    if root is not None:
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError:
            root = None  # no cache, just a slower synth
    if root is None:
        _synthesize(environments, outdir, node)
        return Synthesis(_stack_paths(environments, outdir))
    return _cached(environments, everything, outdir, node, root)


def synth(
    envs: list[str] | None, outdir: Path, environments_dir: Path | None = None
) -> dict[str, Path]:
    """:func:`synthesize`, for callers that want only the paths: env -> its cdk.tf.json."""
    return synthesize(envs, outdir, environments_dir).paths
