"""Find the newest installed PostgreSQL server and check it has what Azure gives us."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mapperdb.errors import EnvironmentProblem
from mapperdb.platform import allowed_extensions

# Debian installs each major version side by side; PGBINDIR points elsewhere when needed.
SEARCH_ROOTS = (Path("/usr/lib/postgresql"), Path("/usr/local/pgsql"))
EXTWLIST_PACKAGE = "postgresql-{major}-pgextwlist"


@dataclass(frozen=True)
class PgInstall:
    major: int
    bindir: Path
    sharedir: Path
    libdir: Path

    def tool(self, name: str) -> Path:
        return self.bindir / name


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


def find_server() -> PgInstall:
    """The newest server whose binaries run and whose Azure extensions are installed."""
    versions = [(v, b) for b in _candidates() if (v := _version(b)) is not None]
    if not versions:
        packages = (
            ["postgresql", "postgresql-contrib"]
            + [ext.debian_package(15) for ext in allowed_extensions() if "{major}" in ext.package]
            + [EXTWLIST_PACKAGE.format(major=15)]
        )
        raise EnvironmentProblem(
            "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin, $PGBINDIR); "
            + _install_hint(15, sorted(set(packages)))
        )
    major, bindir = max(versions)
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
