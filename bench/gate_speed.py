"""The PR gate's speed: a SQL-only pull request (``mapperdb check --changed-since BASE``) against
the full ``mapperdb check`` (the baseline), in the same run, on a clone of this repository.

The clone gets a branch that adds one index migration, as a pull request would. The two
commands run in turn (A B A B ...), so a drifting machine load hits both alike; each run's wall
time and CPU time (user + system of the command and everything it waited for) are measured from
outside the process, start-up included. A full gate runs once first, unmeasured, so the synth
cache and the cached PostgreSQL cluster are warm, as on a developer's machine or a CI runner
that keeps ~/.cache; ``--cold`` adds one full gate with an empty synth cache (what every run
cost before the cache).

Usage: ``.venv/bin/python bench/gate_speed.py [--runs N] [--cold]``; prints a Markdown table for
docs/benchmarks.md. Targets (issue 13): the SQL-only gate in at most 20 s, the full gate with
warm caches in at most 60 s, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPERDB = [sys.executable, "-m", "mapperdb"]
UP = """-- mapperdb:no-transaction
-- mapperdb:role mapper_owner
-- Operators list the tenants in a status (suspended, offboarding) from the admin console; an index
-- keeps that a short range scan. Built concurrently, so tenant writes never wait for it.
create index concurrently if not exists tenant_configs_status_ix
    on mapper.tenant_configs (status);
"""
DOWN = """-- mapperdb:no-transaction
-- mapperdb:role mapper_owner
-- Reverses the up: the index on tenant_configs (status), dropped without blocking writes.
drop index concurrently if exists mapper.tenant_configs_status_ix;
"""


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    report: dict[str, object]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def pull_request(workdir: Path) -> tuple[Path, str]:
    """A clone of this repository's HEAD with a branch adding one index migration."""
    repo = workdir / "repo"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(repo)], check=True)
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "add-index")
    migrations = repo / "sql" / "migrations"
    version = max(int(p.name[:4]) for p in migrations.glob("*.up.sql")) + 1
    (migrations / f"{version:04d}_tenant_configs_status_ix.up.sql").write_text(UP)
    (migrations / f"{version:04d}_tenant_configs_status_ix.down.sql").write_text(DOWN)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "an index for the tenant list by status")
    # checkov lives in its own venv (bin/setup); the clone uses this checkout's, as worktrees do.
    (repo / ".tools").symlink_to(ROOT / ".tools")
    return repo, base


def gate(repo: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [*MAPPERDB, "check", "--format", "json", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"mapperdb check {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, json.loads(done.stdout))


def stages(run: Run) -> str:
    rows = run.report["stages"]
    assert isinstance(rows, list)
    return ", ".join(
        f"{s['name']} {s['status']}"
        + (f" {s['duration_s']:.1f} s" if s["status"] != "skipped" else "")
        for s in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs (default 3)")
    parser.add_argument("--cold", action="store_true", help="also one full gate, synth uncached")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        repo, base = pull_request(Path(tmp))
        gate(repo)  # warm-up: fills the synth cache and the PostgreSQL cluster cache
        pr: list[Run] = []
        full: list[Run] = []
        for _ in range(args.runs):
            pr.append(gate(repo, "--changed-since", base))
            full.append(gate(repo))
        cold = None
        if args.cold:
            env = dict(os.environ, MAPPERDB_CACHE_DIR=str(Path(tmp) / "cold-cache"))
            cold = gate(repo, env=env)
    ratios = [a.wall_s / b.wall_s for a, b in zip(pr, full, strict=True)]
    cpu_ratios = [a.cpu_s / b.cpu_s for a, b in zip(pr, full, strict=True)]
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())

    def med(runs: list[Run], attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    print(f"{args.runs} pairs, {os.cpu_count()} cores, load average {load} (1/5/15 min) at the end")
    print()
    print("| command | wall s (median) | CPU s (median) | stages (last run) |")
    print("|---|--:|--:|---|")
    print(
        f"| SQL-only PR: `check --changed-since BASE` | {med(pr, 'wall_s'):.1f} |"
        f" {med(pr, 'cpu_s'):.1f} | {stages(pr[-1])} |"
    )
    print(
        f"| full `check`, warm caches (baseline) | {med(full, 'wall_s'):.1f} |"
        f" {med(full, 'cpu_s'):.1f} | {stages(full[-1])} |"
    )
    if cold is not None:
        print(
            f"| full `check`, empty synth cache | {cold.wall_s:.1f} | {cold.cpu_s:.1f} |"
            f" {stages(cold)} |"
        )
    print()
    print(
        f"SQL-only / full, paired: wall {statistics.median(ratios):.2f}"
        f" (min {min(ratios):.2f}, max {max(ratios):.2f}),"
        f" CPU {statistics.median(cpu_ratios):.2f}"
    )


if __name__ == "__main__":
    main()
