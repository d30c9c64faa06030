"""Named steps with progress and time, and a state file so that a rerun resumes.

The state file records the steps finished for one plan (keyed by the plan file's sha256). A
rerun with the same plan skips them: above all ``terraform apply``, whose saved plan Terraform
refuses once applied. A different plan starts from the first step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

T = TypeVar("T")
STATE_VERSION = 1


@dataclass(frozen=True)
class StepResult:
    name: str
    seconds: float
    status: str  # "done", "resumed" (finished by an earlier run), "failed"
    detail: str = ""


@dataclass
class ResumeState:
    """``{"version": 1, "plan_sha256": ..., "done": {step: {"seconds", "finished_at"}}}``."""

    path: Path
    plan_sha256: str
    done: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, plan_sha256: str) -> ResumeState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return cls(path, plan_sha256)
        if data.get("version") != STATE_VERSION or data.get("plan_sha256") != plan_sha256:
            return cls(path, plan_sha256)
        return cls(path, plan_sha256, dict(data.get("done", {})))

    def mark(self, step: str, seconds: float, detail: str) -> None:
        self.done[step] = {
            "seconds": round(seconds, 3),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "detail": detail,
        }
        payload = {"version": STATE_VERSION, "plan_sha256": self.plan_sha256, "done": self.done}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path)  # never a half-written state file


@dataclass
class Steps:
    """Runs steps in order, prints ``-> name`` and ``ok name (1.2 s)`` to stderr, keeps results."""

    state: ResumeState | None = None
    echo: Callable[[str], None] = field(default=lambda line: click.echo(line, err=True))
    results: list[StepResult] = field(default_factory=list)

    def run(
        self,
        name: str,
        func: Callable[[], T],
        describe: Callable[[T], str],
        *,
        record: bool = True,
    ) -> T | None:
        """Run ``func`` unless an earlier run with the same plan finished it (then None).

        ``record=False``: a step that must run every time (``terraform init`` on a fresh runner).
        """
        if record and self.state is not None and name in self.state.done:
            earlier = self.state.done[name]
            self.echo(f"ok {name} (done by an earlier run at {earlier['finished_at']})")
            self.results.append(StepResult(name, 0.0, "resumed", str(earlier.get("detail", ""))))
            return None
        self.echo(f"-> {name}")
        started = time.monotonic()
        try:
            value = func()
        except BaseException:
            seconds = time.monotonic() - started
            self.echo(f"FAILED {name} ({seconds:.1f} s)")
            self.results.append(StepResult(name, seconds, "failed"))
            raise
        seconds = time.monotonic() - started
        detail = describe(value)
        self.echo(f"ok {name} ({seconds:.1f} s){': ' + detail if detail else ''}")
        self.results.append(StepResult(name, seconds, "done", detail))
        if record and self.state is not None:
            self.state.mark(name, seconds, detail)
        return value

    def table(self) -> list[str]:
        width = max((len(r.name) for r in self.results), default=4)
        total = sum(r.seconds for r in self.results)
        rows = [
            f"  {r.name:<{width}}  {r.status:<7} {r.seconds:7.1f} s  {r.detail}".rstrip()
            for r in self.results
        ]
        return [*rows, f"  {'total':<{width}}  {'':<7} {total:7.1f} s"]
