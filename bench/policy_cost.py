"""Policy cost: ``mapperdb policy --from DIR`` over the synthesized stacks versus checkov alone
on the same files with the same checks (stock and policies/checkov), paired in one run.

    .venv/bin/python bench/policy_cost.py [--from cdktf.out] [--runs 3]

Needs a synthesized output (``mapperdb synth``). Uses farm-bench (A/B pairs, the whole process
timed from outside) when it is installed, else its own alternating pairs. Target (issue 10):
median ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mapperdb.infra.policy import checkov_command, offline_env, stack_paths

ROOT = Path(__file__).resolve().parents[1]


def commands(outdir: Path) -> tuple[list[str], list[str]]:
    paths = list(stack_paths(outdir).values())
    ours = [str(ROOT / ".venv/bin/mapperdb"), "policy", "--from", str(outdir)]
    return ours, checkov_command(paths)


def own_pairs(a: list[str], b: list[str], runs: int) -> None:
    env = offline_env()
    ratios, times_a, times_b = [], [], []
    for _ in range(runs):
        spent = []
        for command in (a, b):
            start = time.perf_counter()
            subprocess.run(command, env=env, capture_output=True, check=False)
            spent.append(time.perf_counter() - start)
        times_a.append(spent[0])
        times_b.append(spent[1])
        ratios.append(spent[0] / spent[1])
    print(f"mapperdb policy --from: median {statistics.median(times_a):.1f} s wall")
    print(f"checkov alone:          median {statistics.median(times_b):.1f} s wall")
    print(f"ratio (pairwise median): {statistics.median(ratios):.2f} (target <= 1.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="outdir", type=Path, default=ROOT / "cdktf.out")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.chdir(ROOT)
    ours, alone = commands(args.outdir.resolve())
    farm = shutil.which("farm-bench")
    if farm is None:
        own_pairs(ours, alone, args.runs)
        return
    # checkov reads its offline switches from the environment; farm-bench passes ours through.
    os.environ.update(offline_env())
    vs = " ".join(alone)
    command = [farm, "-n", str(args.runs), "--warmup", "1", "--timeout", "3600", "--vs", vs]
    sys.exit(subprocess.run([*command, "--", *ours], check=False).returncode)


if __name__ == "__main__":
    main()
