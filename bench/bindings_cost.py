"""Synthesis through the lazy azurerm bindings (mapper_infra.bindings) against the package's own
eager import (the baseline, ``MAPPER_INFRA_EAGER_BINDINGS=1``), in the same run, in turns.

Each side synthesizes every environment in a fresh interpreter (what ``cdktf synth``,
``mapperdb synth`` with a cold cache and ``cdktf deploy`` do) into its own directory; wall time
and CPU time (user + system of the process and the Node.js process jsii runs) are measured from
outside. Every run's output must be byte-identical to the baseline's, or the bench fails.

Usage: ``.venv/bin/python bench/bindings_cost.py [--runs N]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNTH = (
    "import sys\n"
    "from pathlib import Path\n"
    "from mapper_infra.app import build_app\n"
    "from mapper_infra.config import load_environments\n"
    "build_app(load_environments(Path('infra/environments')), Path(sys.argv[1])).synth()\n"
)


def synthesize(outdir: Path, eager: bool) -> tuple[float, float]:
    env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    if eager:
        env["MAPPER_INFRA_EAGER_BINDINGS"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", SYNTH, str(outdir)], cwd=ROOT, env=env, check=True, timeout=900
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def identical(left: Path, right: Path) -> bool:
    files = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
    other = sorted(p.relative_to(right) for p in right.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(left, right, files, shallow=False)
    return files == other and not mismatch and not errors and len(match) == len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            for eager in (False, True) if i % 2 == 0 else (True, False):
                out = Path(tmp) / f"{'eager' if eager else 'lazy'}-{i}"
                results[eager].append(synthesize(out, eager))
                print(
                    f"run {i + 1}/{runs} {'eager' if eager else 'lazy '}: "
                    f"{results[eager][-1][0]:.1f} s wall",
                    file=sys.stderr,
                )
            if not identical(Path(tmp) / f"lazy-{i}", Path(tmp) / f"eager-{i}"):
                sys.exit(f"run {i + 1}: lazy and eager bindings synthesized different stacks")
    lazy_wall, lazy_cpu = (statistics.median(x) for x in zip(*results[False], strict=True))
    eager_wall, eager_cpu = (statistics.median(x) for x in zip(*results[True], strict=True))
    print(f"| measure (median of {runs}) | lazy bindings | eager (baseline) | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| wall, s | {lazy_wall:.1f} | {eager_wall:.1f} | **{lazy_wall / eager_wall:.2f}** |")
    print(f"| CPU, s | {lazy_cpu:.1f} | {eager_cpu:.1f} | **{lazy_cpu / eager_cpu:.2f}** |")
    print("\noutput byte-identical in every run")


if __name__ == "__main__":
    main()
