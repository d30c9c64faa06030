"""The synth cache: keyed by every input of a stack, shared by processes, one synth at a time."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mapper_infra.config import load_environments
from mapperdb.infra.synth import CACHE_KEEP, _prune, cache_key, synthesize
from mapperdb.stage_inputs import digest

REPO = Path(__file__).resolve().parent.parent
ENV_DIR = REPO / "infra" / "environments"


def test_the_key_changes_with_environments_and_tool_versions_only() -> None:
    envs = load_environments(ENV_DIR)
    key = cache_key(envs, "20.19.0")
    assert key == cache_key(load_environments(ENV_DIR), "20.19.0")
    moved = [envs[0].model_copy(update={"location": "northeurope"}), *envs[1:]]
    assert cache_key(moved, "20.19.0") != key
    assert cache_key(envs[:1], "20.19.0") != key
    assert cache_key(envs, "22.1.0") != key


def test_the_digest_covers_names_and_contents_but_not_compiled_python(tmp_path: Path) -> None:
    (tmp_path / "infra" / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "infra" / "pkg" / "stack.py").write_text("x = 1\n")
    (tmp_path / "cdktf.json").write_text("{}\n")
    (tmp_path / "README.md").write_text("not an input\n")
    patterns = ("infra/**", "cdktf.json")
    first = digest(tmp_path, patterns)
    (tmp_path / "infra" / "pkg" / "__pycache__" / "stack.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "README.md").write_text("still not an input\n")
    assert digest(tmp_path, patterns) == first
    (tmp_path / "infra" / "pkg" / "stack.py").write_text("x = 2\n")
    assert digest(tmp_path, patterns) != first
    (tmp_path / "infra" / "pkg" / "stack.py").write_text("x = 1\n")
    assert digest(tmp_path, patterns) == first
    (tmp_path / "infra" / "pkg" / "stack.py").rename(tmp_path / "infra" / "pkg" / "other.py")
    assert digest(tmp_path, patterns) != first


def test_prune_keeps_the_most_recently_used_entries(tmp_path: Path) -> None:
    for age in range(CACHE_KEEP + 2):
        entry = tmp_path / f"key{age:02d}"
        entry.mkdir()
        (entry / "manifest.json").write_text("{}")
        stamp = time.time() - 60 * age
        os.utime(entry, (stamp, stamp))
    (tmp_path / ".key00.lock").touch()
    _prune(tmp_path, CACHE_KEEP)
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert left == [f"key{age:02d}" for age in range(CACHE_KEEP)]


def _blocked_on_a_lock(pid: int) -> bool:
    """True while ``pid`` waits for a lock (a ``->`` line of /proc/locks names it)."""
    return any(
        line.split()[1] == "->" and str(pid) in line.split()
        for line in Path("/proc/locks").read_text().splitlines()
        if len(line.split()) > 2
    )


@pytest.mark.slow
def test_a_second_synth_waits_for_the_first_and_reuses_what_it_wrote(tmp_path: Path) -> None:
    # This machine's cache: a hit, or the one synthesis every test and worker then shares.
    warm = synthesize(None, tmp_path / "warm", ENV_DIR)
    assert warm.key is not None
    repo = tmp_path / "repo"
    shutil.copytree(ENV_DIR, repo / "infra" / "environments")
    shutil.copy(REPO / "cdktf.json", repo / "cdktf.json")
    root = tmp_path / "cache" / "synth"
    root.mkdir(parents=True)
    env = dict(os.environ, MAPPERDB_CACHE_DIR=str(tmp_path / "cache"))
    with (root / f".{warm.key}.lock").open("a") as lock:
        # This test plays the first process: it holds the key's lock, as during a synthesis.
        fcntl.flock(lock, fcntl.LOCK_EX)
        second = subprocess.Popen(
            [sys.executable, "-m", "mapperdb", "synth"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        while not _blocked_on_a_lock(second.pid):
            assert second.poll() is None, second.communicate()
            assert time.monotonic() < deadline, "the second synth never waited for the lock"
            time.sleep(0.1)
        # The first process finishes: its output appears under the key, all at once.
        staging = root / ".staging-test"
        shutil.copytree(tmp_path / "warm", staging)
        staging.rename(root / warm.key)
        fcntl.flock(lock, fcntl.LOCK_UN)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert f"synth: from the synth cache ({warm.key[:12]})" in err
    assert "dev: cdktf.out/stacks/dev/cdk.tf.json" in out
    for name, path in warm.paths.items():
        written = repo / "cdktf.out" / "stacks" / name / "cdk.tf.json"
        assert written.read_bytes() == path.read_bytes()
    assert not any(p.name.startswith(".staging") for p in root.iterdir())

    # One environment comes from the same entry (it holds them all), with a manifest of its own.
    shutil.rmtree(repo / "cdktf.out")
    one = subprocess.run(
        [sys.executable, "-m", "mapperdb", "synth", "--env", "dev"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert one.returncode == 0, one.stderr
    assert f"synth: from the synth cache ({warm.key[:12]})" in one.stderr
    manifest = json.loads((repo / "cdktf.out" / "manifest.json").read_text())
    assert list(manifest["stacks"]) == ["dev"]
    assert sorted(p.name for p in (repo / "cdktf.out" / "stacks").iterdir()) == ["dev"]
