"""One environment's deployment: validate, plan, apply a saved plan, migrate, verify, smoke.

Everything it acts on comes in a :class:`Target` (the Terraform working directory, the
migrations, where the database is), so tests point it at a small stack and an ephemeral
PostgreSQL exactly as the CLI points it at ``cdktf.out/stacks/ENV`` and the Azure server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg.conninfo import make_conninfo

from mapperdb.db import Connector
from mapperdb.deploy.plan import PROTECTED_TYPES, PlanSummary, file_sha256, summarize
from mapperdb.deploy.smoke import smoke_check
from mapperdb.deploy.steps import ResumeState, Steps
from mapperdb.deploy.terraform import StalePlan, Terraform
from mapperdb.errors import ConfigError, EnvironmentProblem, FindingsError
from mapperdb.findings import Finding
from mapperdb.migrate.runner import Runner, Step
from mapperdb.platform import APP_DATABASE

STATE_FILE = ".mapperdb-deploy-state.json"
DEFAULT_PLAN = "tfplan"
FQDN_OUTPUT = "server_fqdn"
# Outputs naming the virtual endpoint's hosts -> whether that endpoint must be a replica.
ENDPOINT_OUTPUTS = {"read_write_endpoint": False, "read_only_endpoint": True}


def policy_findings(stack_file: Path) -> list[Finding]:
    """The policy gate (checkov with this repo's checks and waivers, cross-layer checks) over
    one synthesized stack, ``<out>/stacks/<env>/cdk.tf.json``: what ``mapperdb policy --from``
    and the PR gate run."""
    from mapperdb.infra.policy import evaluate

    return evaluate(stack_file.parent.parent, [stack_file.parent.name])


def summary_paths(plan_file: Path) -> tuple[Path, Path]:
    """Where the plan's summary goes, next to it: ``PLAN.summary.json`` and ``PLAN.summary.md``."""
    return (
        plan_file.with_name(plan_file.name + ".summary.json"),
        plan_file.with_name(plan_file.name + ".summary.md"),
    )


@dataclass(frozen=True)
class Target:
    """What one deployment acts on."""

    env: str
    workdir: Path  # a Terraform configuration: cdktf.out/stacks/ENV
    migrations: Path
    # The primary's DSN; None: DATABASE_URL, else built from the ``server_fqdn`` output.
    conninfo: str | None = None
    # Who migrations run as when the DSN comes from the outputs: the Entra admin group the
    # deployer's identity belongs to (its token is the password; there is no password).
    entra_user: str | None = None
    protected: Mapping[str, str] = field(default_factory=lambda: dict(PROTECTED_TYPES))

    def database(self, outputs: Mapping[str, Any]) -> str | None:
        if self.conninfo is not None:
            return self.conninfo
        if os.environ.get("DATABASE_URL"):
            return os.environ["DATABASE_URL"]
        fqdn = outputs.get(FQDN_OUTPUT)
        if not fqdn:
            return None
        if not self.entra_user:
            raise ConfigError(
                f"{self.env}: the DSN comes from output {FQDN_OUTPUT}, but no Entra user is "
                "known; set DATABASE_URL"
            )
        return f"host={fqdn} port=5432 dbname={APP_DATABASE} user={self.entra_user} sslmode=require"


@dataclass(frozen=True)
class PlanReport:
    summary: PlanSummary
    migrations: tuple[Step, ...] | None  # None: no server yet, every migration will run
    plan_file: Path


@dataclass
class Deployment:
    target: Target
    terraform: Terraform
    steps: Steps = field(default_factory=Steps)

    @classmethod
    def for_target(cls, target: Target, steps: Steps | None = None) -> Deployment:
        return cls(target, Terraform(target.workdir), steps or Steps())

    def _runner(self, conninfo: str) -> Runner:
        return Runner(
            Connector(conninfo, application_name="mapperdb deploy"), self.target.migrations
        )

    def _summary(self, plan_file: Path, allowed: tuple[str, ...]) -> PlanSummary:
        return summarize(
            self.terraform.show(plan_file),
            file_sha256(plan_file),
            allowed=allowed,
            protected=self.target.protected,
        )

    def _write_summary(self, plan_file: Path, summary: PlanSummary, exitcode: int) -> None:
        json_path, md_path = summary_paths(plan_file)
        payload: dict[str, Any] = {"environment": self.target.env, **summary.as_json()}
        payload["detailed_exitcode"] = exitcode  # terraform plan: 0 no changes, 2 changes
        json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        md_path.write_text(summary.markdown(f"Plan for {self.target.env}"), encoding="utf-8")

    def _reviewed_summary(
        self, plan_file: Path, allowed: tuple[str, ...], exitcode: int
    ) -> PlanSummary:
        summary = self._summary(plan_file, allowed)
        self._write_summary(plan_file, summary, exitcode)
        return summary

    def plan(self, plan_file: Path, allowed: tuple[str, ...] = ()) -> PlanReport:
        """init, plan -out, the summary next to the plan, migrate plan (the caller refuses a
        report whose summary is ``blocked``)."""
        steps = self.steps
        steps.run("terraform init", self.terraform.init, lambda _: "")
        changed = steps.run(
            "terraform plan",
            lambda: self.terraform.plan(plan_file),
            lambda changed: f"saved {plan_file}" + ("" if changed else " (no changes)"),
        )
        summary = steps.run(
            "plan summary",
            lambda: self._reviewed_summary(plan_file, allowed, 2 if changed else 0),
            PlanSummary.headline,
        )
        assert summary is not None
        migrations = steps.run("migrate plan", self._migrate_plan, _describe_migrations)
        return PlanReport(summary, migrations, plan_file)

    def _migrate_plan(self) -> tuple[Step, ...] | None:
        conninfo = self.target.database(self.terraform.outputs())
        if conninfo is None:
            return None
        return tuple(self._runner(conninfo).plan())

    def apply(self, plan_file: Path, allowed: tuple[str, ...] = ()) -> PlanSummary:
        """Apply exactly ``plan_file``, then migrate up, verify and smoke-check the primary.

        Steps finished by an earlier run with the same plan are skipped; a saved plan that is
        stale because it was already applied (the state now matches the configuration) counts
        as applied, any other stale plan is refused.
        """
        if not plan_file.is_file():
            raise ConfigError(
                f"no saved plan at {plan_file}; make one with mapperdb deploy --env "
                f"{self.target.env} --dry-run (apply only applies a reviewed plan)"
            )
        sha = file_sha256(plan_file)
        _same_as_reviewed(plan_file, sha)
        steps = self.steps
        steps.state = ResumeState.load(self.target.workdir / STATE_FILE, sha)
        # Not recorded: a fresh runner has no .terraform directory even when the plan is applied.
        steps.run("terraform init", self.terraform.init, lambda _: "", record=False)
        summary = steps.run(
            "review plan",
            lambda: self._summary(plan_file, allowed),
            PlanSummary.headline,
            record=False,
        )
        assert summary is not None
        if summary.blocked:
            raise FindingsError(_blocked_message(summary))
        steps.run("terraform apply", lambda: self._apply(plan_file), str)
        conninfo = self.target.database(self.terraform.outputs())
        if conninfo is None:
            raise EnvironmentProblem(
                f"{self.target.env}: no {FQDN_OUTPUT} output and no DATABASE_URL; "
                "cannot reach the database to migrate"
            )
        steps.run("server parameters", lambda: _no_pending_restart(conninfo), str, record=False)
        runner = self._runner(conninfo)
        steps.run("migrate up", runner.up, lambda done: f"{len(done)} migration(s) applied")
        steps.run("migrate verify", lambda: _verify(runner), str)
        steps.run("smoke check", lambda: self._smoke(conninfo), str)
        return summary

    def _smoke(self, conninfo: str) -> str:
        """The primary, then every endpoint the stack outputs, each as the deployer."""
        outputs = self.terraform.outputs()
        checked = [smoke_check(Connector(conninfo, application_name="mapperdb deploy"))]
        names = ["primary"]
        for output, replica in ENDPOINT_OUTPUTS.items():
            host = outputs.get(output)
            if host:
                endpoint = make_conninfo(conninfo, host=str(host))
                connector = Connector(endpoint, application_name="mapperdb deploy")
                checked.append(smoke_check(connector, replica=replica))
                names.append(output)
        return f"{checked[0].describe()}; endpoints ok: {', '.join(names)}"

    def _apply(self, plan_file: Path) -> str:
        try:
            self.terraform.apply(plan_file)
        except StalePlan as exc:
            if self.terraform.plan(None):
                raise StalePlan(
                    f"{exc.message}; the infrastructure no longer matches the reviewed plan: "
                    f"make a new one with mapperdb deploy --env {self.target.env} --dry-run"
                ) from None
            return "already applied by an earlier run (the state matches the configuration)"
        return "applied"


def _same_as_reviewed(plan_file: Path, sha: str) -> None:
    """The plan next to its summary must be the one the summary (what reviewers read) describes."""
    json_path = summary_paths(plan_file)[0]
    if not json_path.is_file():
        return
    reviewed = json.loads(json_path.read_text(encoding="utf-8")).get("plan_sha256")
    if reviewed != sha:
        raise FindingsError(
            f"{plan_file} (sha256 {sha[:12]}) is not the plan its summary {json_path.name} "
            f"describes ({str(reviewed)[:12]}); apply only the plan that was reviewed"
        )


def _no_pending_restart(conninfo: str) -> str:
    """Static parameters (shared_preload_libraries: pgaudit, pg_cron) apply at the next restart.
    A new server, or an environment with restart_on_parameter_change off, has them pending
    after the apply; migrating then would fail at the first CREATE EXTENSION that needs one
    (0020 pgaudit), so say what to do before any migration runs."""
    connector = Connector(conninfo, application_name="mapperdb deploy")
    with connector.connect() as conn:
        rows = conn.execute(
            "select name from pg_catalog.pg_settings where pending_restart order by name"
        ).fetchall()
        host = str(conn.info.host)
    if not rows:
        return "none waits for a restart"
    names = ", ".join(str(row[0]) for row in rows)
    server = host.split(".", 1)[0] if host.endswith(".postgres.database.azure.com") else host
    raise EnvironmentProblem(
        f"server parameter(s) {names} wait for a restart of {server}: restart it "
        f"(az postgres flexible-server restart --name {server} --resource-group <its group>, or "
        "the portal), then rerun this apply (finished steps are skipped); environments that may "
        "restart on their own set server.restart_on_parameter_change = true"
    )


def _verify(runner: Runner) -> str:
    drift = runner.drift()
    if drift:
        raise FindingsError(f"migrate verify: {'; '.join(d.message for d in drift)}")
    return "no drift"


def _describe_migrations(steps: tuple[Step, ...] | None) -> str:
    if steps is None:
        return "no server yet: every migration will run after the apply"
    return f"{len(steps)} migration(s) to apply" if steps else "database up to date"


def _blocked_message(summary: PlanSummary) -> str:
    names = ", ".join(
        f"{c.address} ({c.action}"
        + (f" forced by {', '.join(c.replace_paths)}" if c.replace_paths else "")
        + ")"
        for c in summary.blocked
    )
    return (
        f"the plan destroys or replaces protected resource(s): {names}; if intended, rerun "
        "with --allow-replace ADDRESS for each"
    )
