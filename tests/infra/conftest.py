"""Every environment is synthesized once per test session (one azurerm import), or found in
the synth cache."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mapper_infra.config import Environment, load_environments
from mapperdb.infra.synth import synth

ROOT = Path(__file__).resolve().parents[2]
ENV_DIR = ROOT / "infra/environments"


@pytest.fixture(scope="session")
def environments() -> dict[str, Environment]:
    return {env.name: env for env in load_environments(ENV_DIR)}


@pytest.fixture(scope="session")
def stack_paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed to synthesize (jsii); install Node 20+ and rerun")
    outdir = tmp_path_factory.mktemp("synth")
    yield synth(None, outdir, ENV_DIR)


@pytest.fixture(scope="session")
def stacks(stack_paths: dict[str, Path]) -> dict[str, dict[str, object]]:
    return {name: json.loads(path.read_text()) for name, path in stack_paths.items()}
