"""``mapperdb policy``: checkov (stock and policies/checkov checks), waivers and cross-layer checks.

:func:`evaluate` is what the gate and the command call: it scans a synthesized output
(``<dir>/stacks/<env>/cdk.tf.json``) with one checkov run, applies ``policies/waivers.toml`` and
adds the SQL-against-infra checks of :mod:`mapperdb.policy.crosslayer`. A waived failure is an
info finding; an unwaived failure, an expired waiver and a waiver that matches no failure are
errors. :func:`scan` returns the same plus every check result, for the compliance report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mapperdb.errors import ConfigError, EnvironmentProblem
from mapperdb.findings import Finding, Severity
from mapperdb.repo import repo_root

if TYPE_CHECKING:
    from mapperdb.policy.waivers import Loaded

# checkov starts before anything heavy is imported (the infra models cost ~1 s of CPU to import,
# pydantic included), so this module imports only the standard library at load time; the
# infra models, the waivers and the cross-layer checks load while checkov runs.
CHECKS_DIR = "policies/checkov"
WAIVERS_FILE = "policies/waivers.toml"
STACKS_DIR = "stacks"  # as mapperdb.infra.synth writes them
STACK_FILE = "cdk.tf.json"

CHECKOV_TIMEOUT_S = 600


MIGRATIONS_DIR = "sql/migrations"
ENVIRONMENTS_DIR = "infra/environments"


def checkov_binary() -> Path:
    """``MAPPERDB_CHECKOV``, else the isolated install bin/setup makes, else checkov on PATH."""
    candidates = [os.environ.get("MAPPERDB_CHECKOV"), ".tools/checkov/bin/checkov"]
    for candidate in candidates:
        if candidate:
            path = Path(candidate)
            path = path if path.is_absolute() else repo_root() / path
            if path.is_file():
                return path
    found = shutil.which("checkov")
    if found:
        return Path(found)
    raise EnvironmentProblem(
        "checkov not found; run ./bin/setup (installs it into .tools/checkov, isolated from the "
        "project venv) or set MAPPERDB_CHECKOV"
    )


def offline_env() -> dict[str, str]:
    env = dict(os.environ)
    # No Prisma Cloud mapping download (BC_SKIP_MAPPING) and no PyPI update check at import
    # (CKV_SKIP_PACKAGE_UPDATE_CHECK; --skip-download covers guidelines): the gate runs offline.
    env.update({"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"})
    return env


def checkov_command(paths: list[Path], checks: list[str] | None = None) -> list[str]:
    """The checkov command line ``mapperdb policy`` runs (the bench runs it alone too)."""
    command = [str(checkov_binary()), "--framework", "terraform_json", "--skip-download"]
    command += ["--compact", "--output", "json"]
    command += ["--external-checks-dir", str(repo_root() / CHECKS_DIR)]
    if checks:
        command += ["--check", ",".join(checks)]
    for path in paths:
        command += ["--file", str(path)]
    return command


def start_checkov(
    paths: list[Path], checks: list[str] | None = None, *, quiet: bool = False
) -> subprocess.Popen[str]:
    """Start checkov over ``paths`` (see :func:`checkov_command`); read it with
    :func:`finish_checkov`. ``quiet`` drops passed checks from the report."""
    command = checkov_command(paths, checks) + (["--quiet"] if quiet else [])
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=offline_env(),
    )


def finish_checkov(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    """checkov's JSON reports, once it exits; EnvironmentProblem if it did not run."""
    try:
        stdout, stderr = process.communicate(timeout=CHECKOV_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise EnvironmentProblem(
            f"checkov ran longer than {CHECKOV_TIMEOUT_S} s; run it by hand to see where it waits"
        ) from None
    # checkov exits 1 when a check fails; anything else, or no JSON, means it did not run.
    if process.returncode not in (0, 1) or not stdout.strip().startswith(("{", "[")):
        tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        raise EnvironmentProblem(f"checkov failed (exit {process.returncode}): {tail[0]}")
    data = json.loads(stdout)
    reports = data if isinstance(data, list) else [data]
    return [r for r in reports if isinstance(r, dict) and "results" in r]


def checkov_reports(
    paths: list[Path], checks: list[str] | None = None, *, quiet: bool = False
) -> list[dict[str, Any]]:
    """checkov's JSON reports over ``paths``, with the custom checks of policies/checkov loaded.

    ``checks`` limits the run to those ids (``--check``); ``quiet`` drops passed checks.
    """
    return finish_checkov(start_checkov(paths, checks, quiet=quiet))


@dataclass(frozen=True)
class Result:
    """One checkov result on one resource of one environment."""

    check: str
    name: str
    environment: str
    address: str
    passed: bool
    file: str
    line: int
    waiver: Loaded | None = None


@dataclass
class Scan:
    environments: list[str]
    results: list[Result] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def stack_paths(stacks_dir: Path, envs: list[str] | None = None) -> dict[str, Path]:
    """env -> ``cdk.tf.json`` under ``stacks_dir`` (a cdktf.out, or its stacks/ directory)."""
    base = stacks_dir / STACKS_DIR if (stacks_dir / STACKS_DIR).is_dir() else stacks_dir
    if not base.is_dir():
        raise ConfigError(f"{stacks_dir}: no such directory; pass a synthesized output (cdktf.out)")
    found = {p.parent.name: p for p in sorted(base.glob(f"*/{STACK_FILE}"))}
    if not found:
        raise ConfigError(
            f"{stacks_dir}: no {STACKS_DIR}/<env>/{STACK_FILE} in it; run `mapperdb synth` first"
        )
    if envs:
        missing = [env for env in envs if env not in found]
        if missing:
            raise ConfigError(
                f"{stacks_dir}: no stack for {', '.join(missing)}; it holds {', '.join(found)}"
            )
        found = {env: found[env] for env in envs}
    return found


def _addresses(stack: dict[str, Any]) -> dict[str, list[str]]:
    """Resource name -> the types that have a resource of that name."""
    names: dict[str, list[str]] = {}
    for kind, items in stack.get("resource", {}).items():
        for name in items:
            names.setdefault(name, []).append(kind)
    return names


def _address(raw: str, names: dict[str, list[str]]) -> str:
    """checkov reports Python-check resources of terraform_json as ``resource.<name>``."""
    kind, _, name = raw.partition(".")
    if kind == "resource" and names.get(name):
        return f"{names[name][0]}.{name}"
    return raw


def _display(path: Path) -> str:
    """Paths relative to where the command runs, as editors and CI annotations want."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


def scan(
    stacks_dir: Path,
    envs: list[str] | None = None,
    *,
    root: Path | None = None,
    waivers_file: Path | None = None,
    on: dt.date | None = None,
) -> Scan:
    """Every check over the stacks of ``stacks_dir``, waivers applied, cross-layer checks added.

    ``on`` is the date waivers are judged on (default: today, UTC).
    """
    stacks = list(stack_paths(stacks_dir, envs).items())
    return scan_stacks(stacks, root=root, waivers_file=waivers_file, on=on)


def scan_stacks(
    stacks: list[tuple[str, Path]],
    *,
    root: Path | None = None,
    waivers_file: Path | None = None,
    on: dt.date | None = None,
) -> Scan:
    """:func:`scan` over (environment, ``cdk.tf.json``) pairs, in one checkov run.

    An environment may appear more than once (the mutation tests scan many copies of prod).
    """
    root = root or repo_root()
    checkov = start_checkov([path for _, path in stacks])
    try:
        from mapper_infra.config import load_environments
        from mapperdb.policy import crosslayer
        from mapperdb.policy.waivers import load_waivers, today

        environments = {e.name: e for e in load_environments(root / ENVIRONMENTS_DIR)}
        unknown = sorted({env for env, _ in stacks if env not in environments})
        if unknown:
            raise ConfigError(
                f"no infra/environments file for stack(s) {', '.join(unknown)}; pass --env"
            )
        waivers_path = waivers_file or root / WAIVERS_FILE
        waivers = load_waivers(waivers_path, list(environments))
        documents = {str(p.resolve()): json.loads(p.read_text("utf-8")) for _, p in stacks}
        cross_layer = [
            finding
            for env, path in stacks
            for finding in crosslayer.check_stack(
                path,
                documents[str(path.resolve())],
                environments[env],
                root / MIGRATIONS_DIR,
                _display(path),
            )
        ]
    except BaseException:
        checkov.kill()
        checkov.communicate()
        raise
    by_abs = {str(path.resolve()): (env, path) for env, path in stacks}
    results: list[Result] = []
    for report in finish_checkov(checkov):
        for key in ("passed_checks", "failed_checks"):
            for record in report["results"].get(key, []):
                absolute = str(Path(record["file_abs_path"]).resolve())
                if absolute not in by_abs:
                    continue
                env, path = by_abs[absolute]
                results.append(
                    Result(
                        check=record["check_id"],
                        name=record["check_name"],
                        environment=env,
                        address=_address(record["resource"], _addresses(documents[absolute])),
                        passed=key == "passed_checks",
                        file=_display(path),
                        line=int(record["file_line_range"][0]),
                    )
                )
    envs = list(dict.fromkeys(env for env, _ in stacks))
    result = judge(results, envs, waivers, on or today(), waivers_path)
    result.findings += cross_layer
    return result


def judge(
    results: list[Result],
    envs: list[str],
    waivers: list[Loaded],
    on: dt.date,
    waivers_path: Path,
) -> Scan:
    """Apply ``waivers`` (as of ``on``) to checkov's ``results``: findings for failures, for
    expired waivers and for waivers that match no failure of an environment in ``envs``."""
    used: set[tuple[int, str]] = set()
    judged: list[Result] = []
    for result in results:
        waiver = None
        if not result.passed:
            for index, item in enumerate(waivers):
                if item.waiver.matches(result.check, result.environment, result.address):
                    used.add((index, result.environment))
                    waiver = item if item.waiver.expires >= on else None
                    break
        judged.append(replace(result, waiver=waiver))
    scan = Scan(environments=envs, results=judged)
    scan.findings += [_finding(r) for r in judged if not r.passed]
    scan.findings += _waiver_findings(waivers, used, envs, on, waivers_path)
    return scan


def _finding(result: Result) -> Finding:
    message = f"{result.name}: {result.address}"
    if result.waiver:
        waiver = result.waiver.waiver
        where = f"{WAIVERS_FILE}:{result.waiver.line}"
        message += f"; waived until {waiver.expires} by {waiver.owner} ({where})"
    else:
        message += f"; not waived in {WAIVERS_FILE}"
    return Finding(
        file=result.file,
        line=result.line,
        column=0,
        rule=result.check,
        severity=Severity.INFO if result.waiver else Severity.ERROR,
        message=message,
        extra={"environment": result.environment, "resource": result.address},
    )


def _waiver_findings(
    waivers: list[Loaded], used: set[tuple[int, str]], envs: list[str], date: dt.date, path: Path
) -> list[Finding]:
    findings = []
    for index, item in enumerate(waivers):
        waiver = item.waiver
        file = _display(path)
        if waiver.expires < date:
            findings.append(
                Finding(
                    file=file,
                    line=item.line,
                    column=0,
                    rule="WAIVER-EXPIRED",
                    severity=Severity.ERROR,
                    message=f"waiver for {waiver.check} ({waiver.owner}) expired on "
                    f"{waiver.expires}; fix the failure, or renew it with a new reason",
                )
            )
        for env in envs:
            if waiver.applies_to(env) and (index, env) not in used:
                findings.append(
                    Finding(
                        file=file,
                        line=item.line,
                        column=0,
                        rule="WAIVER-UNUSED",
                        severity=Severity.ERROR,
                        message=f"waiver for {waiver.check} on {waiver.resources} matches no "
                        f"failure in {env}; delete it (or narrow its environments)",
                        extra={"environment": env},
                    )
                )
    return findings


def evaluate(stacks_dir: Path, envs: list[str] | None = None) -> list[Finding]:
    """The findings of :func:`scan`: what the gate's policy stage and ``mapperdb policy`` report."""
    return scan(stacks_dir, envs).findings
