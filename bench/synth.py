"""Infra synthesis: every environment in one process vs one process per stack (the baseline).

Wall time and peak resident memory of the whole process tree (Python plus the Node.js process
jsii runs), sampled from /proc. Usage: ``.venv/bin/python bench/synth.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENVS = ("dev", "staging", "prod")
SAMPLE_S = 0.1


def tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in kB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def run(envs: list[str]) -> tuple[float, int]:
    """(seconds, peak kB) of one process synthesizing ``envs``."""
    with tempfile.TemporaryDirectory() as out:
        code = (
            "from pathlib import Path; from mapperdb.infra.synth import synth; "
            f"synth({envs!r}, Path({out!r}))"
        )
        start = time.perf_counter()
        # The synth cache would turn every run after the first into a copy: measure synthesis.
        env = dict(os.environ, MAPPERDB_SYNTH_CACHE="off")
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss_kb(proc.pid))
            time.sleep(SAMPLE_S)
        elapsed = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(f"synthesis of {envs} failed (exit {proc.returncode})")
        return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    together, apart = [], []
    for _ in range(args.repeat):
        together.append(run(list(ENVS)))
        per_stack = [run([env]) for env in ENVS]
        apart.append((sum(s for s, _ in per_stack), max(kb for _, kb in per_stack)))
    one_s = statistics.median(s for s, _ in together)
    one_kb = statistics.median(kb for _, kb in together)
    base_s = statistics.median(s for s, _ in apart)
    base_kb = statistics.median(kb for _, kb in apart)
    print(f"| measure (median of {args.repeat}) | wall s | peak RSS MiB | time ratio |")
    print("|---|---:|---:|---:|")
    baseline = f"baseline: one process per stack ({len(ENVS)})"
    print(f"| {baseline} | {base_s:.1f} | {base_kb / 1024:.0f} | 1.00 |")
    print(
        f"| all stacks in one process (`synth()`) | {one_s:.1f} | {one_kb / 1024:.0f} "
        f"| {one_s / base_s:.2f} |"
    )


if __name__ == "__main__":
    main()
