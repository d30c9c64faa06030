"""``cdktf synth`` (cdktf-cli 0.21.0 from package-lock.json) produces the same stacks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CDKTF = ROOT / "node_modules/.bin/cdktf"


def test_cdktf_synth_matches_mapperdb_synth(
    stacks: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    if not CDKTF.is_file():
        pytest.fail("cdktf CLI missing: run ./bin/setup (npm ci installs cdktf-cli 0.21.0)")
    env = dict(os.environ, CHECKPOINT_DISABLE="1", CI="1")
    done = subprocess.run(
        [str(CDKTF), "synth", "--output", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for name, stack in stacks.items():
        cli_stack = json.loads((tmp_path / "stacks" / name / "cdk.tf.json").read_text())
        assert cli_stack["resource"] == stack["resource"]
        assert cli_stack["terraform"]["backend"] == stack["terraform"]["backend"]
