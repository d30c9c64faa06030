"""The Terraform binary, run on one working directory (a synthesized stack), with clear errors.

Every call is non-interactive and colourless; a failure raises with Terraform's own first
``Error:`` line, never its whole output. A saved plan that no longer matches the state raises
:class:`StalePlan`, which the deployment turns into "resume" or "make a new plan".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapperdb.errors import EnvironmentProblem, FindingsError

TERRAFORM_ENV = "MAPPERDB_TERRAFORM"  # a binary to use instead of the one on PATH
INSTALL_HINT = "install Terraform 1.11+ (https://developer.hashicorp.com/terraform/install)"
# Non-interactive, no telemetry call home, and output that says "run terraform apply" less.
AUTOMATION_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
# Wait for another run's state lock (a drift check, a queued deploy) instead of failing at once.
LOCK_TIMEOUT = "-lock-timeout=5m"
_SOURCE_LINE = re.compile(r"^\d+:|^[├└│]")  # "  12: resource ..." and its markers


class TerraformFailed(FindingsError):
    """Terraform ran and refused or failed; the message is its first error line."""


class StalePlan(TerraformFailed):
    """The saved plan was made against a state that has changed since."""


def find_terraform() -> Path:
    """``MAPPERDB_TERRAFORM``, else ``terraform`` on PATH; absent is one clear line (exit 2)."""
    given = os.environ.get(TERRAFORM_ENV)
    if given:
        if not Path(given).is_file():
            raise EnvironmentProblem(f"{TERRAFORM_ENV}={given}: no such file; {INSTALL_HINT}")
        return Path(given)
    found = shutil.which("terraform")
    if found is None:
        raise EnvironmentProblem(f"terraform not found on PATH; {INSTALL_HINT}")
    return Path(found)


def first_error(output: str) -> str:
    """Terraform's first ``Error: summary`` with its explanation paragraph, else the last line.

    Between the two Terraform prints where (``on FILE line N``) and the source lines; skipped.
    """
    lines = [line.strip().lstrip("│╷╵").strip() for line in output.splitlines()]
    for index, line in enumerate(lines):
        if not line.startswith("Error: "):
            continue
        summary = line.removeprefix("Error: ")
        paragraph: list[str] = []
        for text in lines[index + 1 :]:
            if text.startswith(("Error: ", "Warning: ")):
                break
            if not text:
                if paragraph:
                    break
                continue
            if not paragraph and (text.startswith("on ") or _SOURCE_LINE.match(text)):
                continue
            paragraph.append(text)
        return summary + (f": {' '.join(paragraph)}" if paragraph else "")
    rest = [line for line in lines if line]
    return rest[-1] if rest else "no output"


@dataclass
class Terraform:
    """Terraform on ``workdir``: a directory of ``*.tf.json`` (``cdktf.out/stacks/ENV``)."""

    workdir: Path
    binary: Path = field(default_factory=find_terraform)
    timeout_s: float = 3 * 3600  # a server create with HA and replicas can take an hour

    def _run(self, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **AUTOMATION_ENV}
        command = [str(self.binary), *args]
        try:
            done = subprocess.run(
                command,
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise EnvironmentProblem(f"cannot run {self.binary}; {INSTALL_HINT}") from None
        except subprocess.TimeoutExpired:
            raise TerraformFailed(
                f"terraform {args[0]} ran longer than {self.timeout_s:.0f} s in {self.workdir}"
            ) from None
        if done.returncode not in ok:
            message = first_error(done.stderr if "Error: " in done.stderr else done.stdout)
            if message.startswith("Saved plan is stale"):
                raise StalePlan(f"terraform {args[0]} in {self.workdir}: {message}")
            raise TerraformFailed(f"terraform {args[0]} in {self.workdir}: {message}")
        return done

    def init(self) -> None:
        """``terraform init`` with the backend the stack declares (the environment's state)."""
        if not any(self.workdir.glob("*.tf.json")) and not any(self.workdir.glob("*.tf")):
            raise EnvironmentProblem(
                f"{self.workdir}: no Terraform configuration; run mapperdb synth --env NAME first"
            )
        try:
            self._run("init", "-input=false", "-no-color")
        except TerraformFailed as exc:
            # Mostly the backend: no Azure login, no access to the state container.
            raise EnvironmentProblem(
                f"{exc.message}; check the Azure login (az login, or ARM_USE_OIDC in CI) and "
                "the state backend ([backend] of the environment file)"
            ) from None

    def plan(self, out: Path | None = None) -> bool:
        """Plan (saved to ``out`` when given); True when it would change anything."""
        args = ["plan", "-input=false", "-no-color", "-detailed-exitcode", LOCK_TIMEOUT]
        if out is not None:
            args.append(f"-out={out.resolve()}")
        done = self._run(*args, ok=(0, 2))
        return done.returncode == 2

    def show(self, plan: Path) -> dict[str, Any]:
        """The saved plan as Terraform's JSON (``terraform show -json``)."""
        data: dict[str, Any] = json.loads(self._run("show", "-json", str(plan.resolve())).stdout)
        return data

    def apply(self, plan: Path) -> None:
        """Apply exactly the saved plan; Terraform refuses one made against another state."""
        self._run(
            "apply", "-input=false", "-no-color", "-auto-approve", LOCK_TIMEOUT, str(plan.resolve())
        )

    def outputs(self) -> dict[str, Any]:
        """The state's outputs, name -> value (empty before the first apply)."""
        data = json.loads(self._run("output", "-json").stdout or "{}")
        return {name: entry.get("value") for name, entry in data.items()}
