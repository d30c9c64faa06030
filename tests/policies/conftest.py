"""prod is synthesized once per session; the policy tests scan copies of that output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mapperdb.infra.synth import synth

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def prod_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthesized output (``<dir>/stacks/prod/cdk.tf.json``) of prod; copy it to change it."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed to synthesize (jsii); install Node 20+ and rerun")
    outdir = tmp_path_factory.mktemp("prod-synth")
    synth(["prod"], outdir, ROOT / "infra/environments")
    return outdir
