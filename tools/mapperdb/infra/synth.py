"""Synthesize the CDKTF stacks of one or all environments, in one process.

The azurerm bindings cost ~10 s and ~1 GB to import, so every environment goes into one App;
environment files are validated before that import, so a bad file fails in a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from mapper_infra.config import load_environments
from mapperdb.errors import ConfigError, EnvironmentProblem

STACKS_DIR = "stacks"
STACK_FILE = "cdk.tf.json"


def repo_root(start: Path | None = None) -> Path:
    """The nearest directory holding cdktf.json and infra/environments, from ``start`` upwards."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "cdktf.json").is_file() and (candidate / "infra/environments").is_dir():
            return candidate
    raise ConfigError(
        f"no cdktf.json with infra/environments/ in {here} or above; run from the repository"
    )


def _node_major() -> str:
    node = shutil.which("node")
    if node is None:
        raise EnvironmentProblem(
            "synthesis needs Node.js (jsii runs the CDKTF core in it); install Node 20 or newer"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    return version.stdout.strip().lstrip("v").split(".")[0]


def synth(
    envs: list[str] | None, outdir: Path, environments_dir: Path | None = None
) -> dict[str, Path]:
    """Write ``outdir/stacks/<env>/cdk.tf.json`` for ``envs`` (all when None); env -> path."""
    directory = environments_dir or repo_root() / "infra/environments"
    environments = load_environments(directory, envs)
    # jsii prints a banner on every run when Node is past its end of life (Node 20 here); the
    # final CDKTF release works with it, so the banner is noise in a gate's output.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", _node_major())
    # Imported here, after the environment files passed: this import is the ~10 s, ~1 GB part.
    from mapper_infra.app import build_app

    build_app(environments, outdir).synth()
    paths = {env.name: outdir / STACKS_DIR / env.name / STACK_FILE for env in environments}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise EnvironmentProblem(f"synthesis wrote no {', '.join(missing)}; rerun with cdktf synth")
    return paths
